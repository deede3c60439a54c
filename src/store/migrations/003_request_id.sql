-- The client-visible x-request-id of each usage record, so a customer's request id finds its billing row.
-- Nullable: records written before this migration, or shipped by an older gateway, have none.
alter table usage_records add column client_request_id text null;
create index usage_records_client_request_id_idx on usage_records (client_request_id) where client_request_id is not null;
