-- Admin lifecycle: a tenant can be disabled (its keys are refused with 403 tenant_disabled; config, keys
-- and usage stay), and a key can carry an expiry (`key create --expires-in`, `key rotate --grace`).
-- Running gateways see both at once: any UPDATE of these rows fires the NOTIFY triggers of 001_init.
-- A column with a constant default is a catalog-only change (PostgreSQL 11+): no table rewrite.
alter table tenants add column disabled boolean not null default false;
alter table api_keys add column expires_at timestamptz null;
