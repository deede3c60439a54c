-- Tenants, API keys and the durable usage ledger. Money is integer micro-USD (bigint).
create table tenants (
  id                text primary key,
  budget_usd_micros bigint null check (budget_usd_micros is null or budget_usd_micros >= 0),
  budget_period     text not null default 'month' check (budget_period in ('total', 'day', 'month')),
  policy            text not null default 'strict' check (policy in ('strict', 'fixed')),
  allowed_models    text[] null,
  fail_open         boolean not null default false,
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now()
);

create table api_keys (
  id         text primary key,
  tenant_id  text not null references tenants (id) on delete cascade,
  -- Only sha256(key) is stored; the key itself is shown once at creation.
  key_hash   text not null unique,
  prefix     text not null,
  name       text null,
  created_at timestamptz not null default now(),
  revoked_at timestamptz null
);
create index api_keys_tenant_id_idx on api_keys (tenant_id);

-- No foreign keys: usage is an append-only ledger that must accept records even for a tenant or key
-- deleted after the request was served.
create table usage_records (
  request_id        text primary key,
  tenant_id         text not null,
  key_id            text not null,
  model             text not null,
  provider          text not null,
  prompt_tokens     integer not null,
  completion_tokens integer not null,
  cost_usd_micros   bigint not null,
  status            text not null,
  started_at        timestamptz not null,
  duration_ms       integer not null
);
create index usage_records_tenant_started_idx on usage_records (tenant_id, started_at);

-- Running gateways LISTEN on 'gateway_config' and reload the named tenant from the payload.
-- NOTIFY is delivered at commit, so listeners never see a change that was rolled back.
create function gateway_notify_tenant() returns trigger language plpgsql as $$
declare
  r tenants;
begin
  if tg_op = 'DELETE' then r := old; else r := new; end if;
  perform pg_notify('gateway_config', json_build_object('kind', 'tenant', 'tenantId', r.id)::text);
  return null;
end
$$;

create function gateway_notify_key() returns trigger language plpgsql as $$
declare
  r api_keys;
begin
  if tg_op = 'DELETE' then r := old; else r := new; end if;
  perform pg_notify('gateway_config',
    json_build_object('kind', 'key', 'tenantId', r.tenant_id, 'keyHash', r.key_hash)::text);
  -- A key moved between tenants (or rehashed) must also be dropped from the old tenant's cache.
  if tg_op = 'UPDATE' and (old.tenant_id <> new.tenant_id or old.key_hash <> new.key_hash) then
    perform pg_notify('gateway_config',
      json_build_object('kind', 'key', 'tenantId', old.tenant_id, 'keyHash', old.key_hash)::text);
  end if;
  return null;
end
$$;

create trigger tenants_notify after insert or update or delete on tenants
  for each row execute function gateway_notify_tenant();
create trigger api_keys_notify after insert or update or delete on api_keys
  for each row execute function gateway_notify_key();
