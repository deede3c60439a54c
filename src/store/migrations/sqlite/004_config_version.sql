-- A counter that moves only when tenants or api_keys change. The change poll reads `pragma data_version`,
-- which also moves on every usage_records commit from another connection (the usage writer thread); this
-- counter tells those apart without rescanning every tenant and key.
create table config_version (
  id      integer primary key check (id = 1),
  version integer not null
);
insert into config_version (id, version) values (1, 0);
create trigger tenants_insert_config_version after insert on tenants begin update config_version set version = version + 1; end;
create trigger tenants_update_config_version after update on tenants begin update config_version set version = version + 1; end;
create trigger tenants_delete_config_version after delete on tenants begin update config_version set version = version + 1; end;
create trigger api_keys_insert_config_version after insert on api_keys begin update config_version set version = version + 1; end;
create trigger api_keys_update_config_version after update on api_keys begin update config_version set version = version + 1; end;
create trigger api_keys_delete_config_version after delete on api_keys begin update config_version set version = version + 1; end;
