-- Embedded-store equivalent of ../001_init.sql. Timestamps are epoch milliseconds (integer),
-- allowed_models is a JSON array (text), booleans are 0/1. No triggers (there is no NOTIFY): the store emits
-- change events after its own writes and detects other processes' commits with PRAGMA data_version.
create table tenants (
  id                text primary key,
  budget_usd_micros integer null check (budget_usd_micros is null or budget_usd_micros >= 0),
  budget_period     text not null default 'month' check (budget_period in ('total', 'day', 'month')),
  policy            text not null default 'strict' check (policy in ('strict', 'fixed')),
  allowed_models    text null check (allowed_models is null or json_type(allowed_models) = 'array'),
  fail_open         integer not null default 0 check (fail_open in (0, 1)),
  created_at        integer not null,
  updated_at        integer not null
);

create table api_keys (
  id         text primary key,
  tenant_id  text not null references tenants (id) on delete cascade,
  key_hash   text not null unique,
  prefix     text not null,
  name       text null,
  created_at integer not null,
  revoked_at integer null
);
create index api_keys_tenant_id_idx on api_keys (tenant_id);

create table usage_records (
  request_id        text primary key,
  tenant_id         text not null,
  key_id            text not null,
  model             text not null,
  provider          text not null,
  prompt_tokens     integer not null,
  completion_tokens integer not null,
  cost_usd_micros   integer not null,
  status            text not null,
  started_at        integer not null,
  duration_ms       integer not null
);
create index usage_records_tenant_started_idx on usage_records (tenant_id, started_at);
