-- Embedded-store equivalent of ../002_tenant_disabled_key_expiry.sql (booleans 0/1, epoch milliseconds).
alter table tenants add column disabled integer not null default 0 check (disabled in (0, 1));
alter table api_keys add column expires_at integer null;
