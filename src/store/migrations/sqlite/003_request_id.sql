-- Embedded-store equivalent of ../003_request_id.sql.
alter table usage_records add column client_request_id text null;
create index usage_records_client_request_id_idx on usage_records (client_request_id) where client_request_id is not null;
