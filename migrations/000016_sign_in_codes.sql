-- Up Migration
-- One-time sign-in codes: `npm start` prints a link with one; the dashboard redeems it through
-- the GraphQL mutation redeemSignInCode, which signs the token (the JWT secret is the server's,
-- never the database's).

create table app_private.sign_in_codes (
  code_hash bytea primary key,
  role text not null check (role in ('app_user', 'app_admin')),
  tenant_id uuid references app_public.tenants on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  redeemed_at timestamptz,
  check (role = 'app_admin' or tenant_id is not null)
);
comment on table app_private.sign_in_codes is
  'Sign-in links that work once: the SHA-256 of each code (the code itself is only in the link), who it signs in as, and until when.';
comment on column app_private.sign_in_codes.code_hash is 'SHA-256 of the code.';
comment on column app_private.sign_in_codes.role is 'The role of the token the code is exchanged for.';
comment on column app_private.sign_in_codes.tenant_id is 'The tenant of that token (none: the installation''s operator).';
comment on column app_private.sign_in_codes.created_at is 'When the code was made.';
comment on column app_private.sign_in_codes.expires_at is 'After this the code signs no one in.';
comment on column app_private.sign_in_codes.redeemed_at is 'When it was used; a code is used once.';

create function app_private.redeem_sign_in_code(p_code text)
returns table (role text, tenant_id uuid)
language sql volatile security definer set search_path to pg_catalog, pg_temp as $$
  update app_private.sign_in_codes c set redeemed_at = now()
  where c.code_hash = sha256(convert_to(p_code, 'UTF8')) and c.redeemed_at is null and c.expires_at > now()
  returning c.role, c.tenant_id
$$;
comment on function app_private.redeem_sign_in_code(text) is
  'Marks a sign-in code used and returns whom it signs in as; no row for a code that is unknown, used or expired. Anyone may try a code (it is the secret: 256 random bits).';
-- A sign-in comes without a token, so as app_anonymous.
grant execute on function app_private.redeem_sign_in_code(text) to app_anonymous, app_user, app_admin, app_seller, app_shopper;
