-- Up Migration
-- Schemas, the roles that requests run as, the helpers that read who is asking, tenants, and
-- the time-ordered ids of the tables that imports fill.

create schema if not exists app_public;
create schema if not exists app_private;
comment on schema app_public is 'Everything clients see through GraphQL.';
comment on schema app_private is 'Internal state of finishline (counters, worker heartbeats, sweeper log); never exposed.';

-- Roles are cluster-wide, so several databases (test clones among them) share them.
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'app_anonymous') then
    create role app_anonymous nologin;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'app_user') then
    create role app_user nologin;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'app_admin') then
    create role app_admin nologin;
  end if;
  -- The marketplace's roles (what they may do: 000015_marketplace_roles).
  if not exists (select 1 from pg_roles where rolname = 'app_seller') then
    create role app_seller nologin;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'app_shopper') then
    create role app_shopper nologin;
  end if;
end
$$;

-- The database owner (the role the migrations, the workers and the server connect as) may be a
-- managed PostgreSQL's master user rather than a superuser. It then needs to be a member of the
-- request roles, as a superuser is implicitly: PostGraphile sets each request's role (SET ROLE
-- needs the membership), and the owner's own edits (catalog imports, scrapes) count as an
-- admin's, keeping a product's approval (current_user_is_admin() asks for app_admin's
-- privileges; without them every import would send the approved products it changed back to
-- pending).
do $$
begin
  grant app_anonymous, app_user, app_admin, app_seller, app_shopper to current_user;
exception when insufficient_privilege then
  raise warning 'finishline: % may not grant itself the request roles: a role administrator must grant app_anonymous, app_user, app_admin, app_seller and app_shopper to it', current_user
    using hint = 'Without them the GraphQL server cannot set a request''s role, and imports send approved products they change back to pending.';
end
$$;

-- node-pg-migrate creates its table before it applies this file.
comment on table app_private.migrations is 'The migrations applied from migrations/, one row each: written by node-pg-migrate, which applies only those it finds no row for.';
comment on column app_private.migrations.id is 'Its row id, in the order they were applied.';
comment on column app_private.migrations.name is 'The migration''s file name without `.sql`.';
comment on column app_private.migrations.run_on is 'When it was applied.';

-- Nothing is callable or readable unless a migration grants it.
alter default privileges revoke execute on functions from public;
revoke all on schema app_public from public;
revoke all on schema app_private from public;
grant usage on schema app_public to app_anonymous, app_user, app_admin;

create function app_public.current_tenant_id() returns uuid
language sql stable parallel safe as $$
  -- A pooled connection that once carried the claim reads '' afterwards, not null.
  select nullif(current_setting('jwt.claims.tenant_id', true), '')::uuid
$$;
comment on function app_public.current_tenant_id() is
  'The tenant of the current request, from the JWT claim `tenant_id`; null for anonymous requests.';

-- The role the request runs as: the one it SET (PostGraphile sets it per transaction), or the
-- login role when it set none. Unlike current_user it stays the caller's inside a security
-- definer function, so the same rule holds in policies and in such functions.
create function app_public.current_user_is_admin() returns boolean
language sql stable parallel safe as $$
  select pg_has_role(coalesce(nullif(current_setting('role'), 'none'), session_user), 'app_admin', 'usage')
$$;
comment on function app_public.current_user_is_admin() is
  'True when the request runs as `app_admin` (or as the database owner). An admin whose token carries a `tenant_id` is that tenant''s admin only; see current_user_sees_all_tenants.';

create function app_public.current_user_sees_all_tenants() returns boolean
language sql stable parallel safe as $$
  select app_public.current_user_is_admin() and app_public.current_tenant_id() is null
$$;
comment on function app_public.current_user_sees_all_tenants() is
  'True for the installation''s operator: an `app_admin` whose token names no tenant (or the database owner). Every other request sees its own tenant only.';

grant execute on function app_public.current_tenant_id() to app_anonymous, app_user, app_admin;
grant execute on function app_public.current_user_is_admin() to app_anonymous, app_user, app_admin;
grant execute on function app_public.current_user_sees_all_tenants() to app_anonymous, app_user, app_admin;

grant usage on schema app_private to app_anonymous, app_user, app_admin;

create function app_private.caller_may_see(p_tenant_id uuid) returns boolean
language sql stable parallel safe as $$
  select p_tenant_id = app_public.current_tenant_id() or app_public.current_user_sees_all_tenants()
$$;
comment on function app_private.caller_may_see(uuid) is
  'The one rule of tenancy: whether the request may see and touch rows of this tenant (its own, or every tenant for the installation''s operator). Every policy on a tenant-owned table uses it, and so does every security definer function that takes an id from a client, since row level security does not apply inside one.';
grant execute on function app_private.caller_may_see(uuid) to app_anonymous, app_user, app_admin;

create function app_private.require_tenant_id() returns uuid
language plpgsql stable as $$
declare
  v_tenant_id uuid := app_public.current_tenant_id();
begin
  if v_tenant_id is null then
    raise exception 'no tenant: this call needs the JWT claim tenant_id (setting jwt.claims.tenant_id)'
      using errcode = 'FLTEN';
  end if;
  -- A token outlives a tenant removed after it was made (or names one that never was): its
  -- writes would otherwise fail on a foreign key, in words that do not say why.
  perform 1 from app_public.tenants t where t.id = v_tenant_id;
  if not found then
    raise exception 'no tenant %: the request''s tenant_id names no tenant', v_tenant_id
      using errcode = 'FLTEN', hint = 'The tenant was removed, or the token was made for another installation.';
  end if;
  return v_tenant_id;
end
$$;
comment on function app_private.require_tenant_id() is
  'The current tenant, or error FLTEN when the request carries none, or names a tenant that does not exist.';
grant execute on function app_private.require_tenant_id() to app_user, app_admin;

create table app_public.tenants (
  id uuid primary key default gen_random_uuid(),
  name text not null unique check (btrim(name) <> '' and length(name) <= 200),
  max_running_chunks integer check (max_running_chunks >= 1),
  created_at timestamptz not null default now()
);
comment on table app_public.tenants is E'@behavior -insert -update -delete\nAn organisation whose batches, sellers, products and reviews are kept apart from every other.';
comment on column app_public.tenants.id is 'The tenant''s id; JWTs carry it as the claim `tenant_id`.';
comment on column app_public.tenants.name is 'A unique, human-readable name: 1 to 200 characters, not only spaces.';
comment on column app_public.tenants.max_running_chunks is 'The most chunk jobs of this tenant that run at once, across all workers; null for no limit. It applies to chunks enqueued after it is set.';
comment on column app_public.tenants.created_at is 'When the tenant was created.';

alter table app_public.tenants enable row level security;
create policy select_own on app_public.tenants for select
  using (app_private.caller_may_see(id));
-- Only the installation's operator creates, renames or removes tenants.
create policy manage_as_operator on app_public.tenants for all to app_admin
  using (app_public.current_user_sees_all_tenants()) with check (app_public.current_user_sees_all_tenants());
grant select on app_public.tenants to app_anonymous, app_user, app_admin;
grant insert (name, max_running_chunks), update (name, max_running_chunks), delete on app_public.tenants to app_admin;

create function app_public.set_tenant_limit(tenant_id uuid, max_running_chunks integer) returns app_public.tenants
language plpgsql volatile as $$
#variable_conflict use_column
declare
  v_tenant app_public.tenants;
begin
  if set_tenant_limit.max_running_chunks < 1 then
    raise exception 'maxRunningChunks must be 1 or more, or null for no limit' using errcode = 'FLLIM';
  end if;
  -- Row level security lets only the installation's operator update tenants.
  update app_public.tenants t set max_running_chunks = set_tenant_limit.max_running_chunks
    where t.id = set_tenant_limit.tenant_id
    returning * into v_tenant;
  if v_tenant.id is null then
    raise exception 'only the installation''s operator sets a tenant''s limit' using errcode = 'FLADM';
  end if;
  return v_tenant;
end
$$;
comment on function app_public.set_tenant_limit(uuid, integer) is
  'Sets the most chunk jobs of a tenant that run at once, across all workers (null: no limit), for the chunks enqueued from now on. The installation''s operator only.';
grant execute on function app_public.set_tenant_limit(uuid, integer) to app_admin;

-- Time-ordered ids for the tables that imports fill by the million (products, reviews). A random
-- (version 4) UUID lands on a random leaf of every index that holds it (the primary key, and
-- `(id, tenant_id)`, which reviews reference), so a big import dirties, and logs in full, pages
-- all over those indexes; a version 7 UUID starts with the time in milliseconds, so new ids go to
-- the right edge.
create function app_private.uuid_v7() returns uuid
language sql volatile parallel safe as $$
  -- RFC 9562 version 7: 48 bits of Unix time in milliseconds, then the version (7), then random
  -- bits. PostgreSQL 18 has uuidv7(); this one works on 15 and newer alike.
  select encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
              placing substring(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
              from 1 for 6),
      52, 1), 53, 1),
    'hex')::uuid
$$;
comment on function app_private.uuid_v7() is
  'A new version 7 UUID (RFC 9562): time-ordered, so rows inserted together sit together in the indexes on their ids.';
-- Column defaults run with the inserting role's rights: every role that inserts rows gets it.
grant execute on function app_private.uuid_v7() to app_user, app_admin, app_seller, app_shopper;
