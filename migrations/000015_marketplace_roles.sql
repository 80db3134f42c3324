-- Up Migration
-- Marketplace roles: sellers manage their own products, admins approve or reject them, shoppers
-- see what is approved and review it. Row level security and column grants decide; the functions
-- below are the API (the tables' generic CRUD mutations stay hidden) and raise clear FL codes
-- before that backstop would refuse.
--
-- Who may do what (products and reviews of one tenant):
--   | action                                  | app_seller          | app_shopper | app_user | app_admin      |
--   | see approved products (and reviews)     | yes                 | yes         | yes      | yes            |
--   | see pending / rejected products         | its own             | no          | yes      | yes            |
--   | create, edit, delete a product          | its own             | no          | no       | no             |
--   | approve or reject a product             | no                  | no          | no       | yes (its tenant when the token has one) |
--   | write a review (approved product, once) | other shops' only   | yes         | no       | no             |
--   | change or delete a review               | no                  | no          | no       | no             |

-- The roles themselves are created with the others, in 000001_schemas_and_roles.

grant usage on schema app_public to app_seller, app_shopper;
-- For the few app_private helpers granted below (nothing in app_private is granted to them otherwise).
grant usage on schema app_private to app_seller, app_shopper;
grant execute on function app_public.current_tenant_id() to app_seller, app_shopper;
grant execute on function app_public.current_user_is_admin(), app_public.current_user_sees_all_tenants(),
  app_private.caller_may_see(uuid) to app_seller, app_shopper;
grant execute on function app_private.require_admin() to app_seller, app_shopper;

create function app_public.current_seller_id() returns uuid
language sql stable parallel safe as $$
  -- A pooled connection that once carried the claim reads '' afterwards, not null.
  select nullif(current_setting('jwt.claims.seller_id', true), '')::uuid
$$;
comment on function app_public.current_seller_id() is
  'The seller the current request acts for, from the JWT claim `seller_id` (tokens of the `app_seller` role); null otherwise.';

create function app_public.current_user_sub() returns text
language sql stable parallel safe as $$
  select nullif(current_setting('jwt.claims.sub', true), '')
$$;
comment on function app_public.current_user_sub() is
  'Who is asking, from the JWT claim `sub` (a shopper''s reviews carry it as their author); null when the token has none.';

grant execute on function app_public.current_seller_id(), app_public.current_user_sub()
  to app_anonymous, app_user, app_admin, app_seller, app_shopper;

-- Tenants and sellers: the new roles read their own tenant and its shops (read-only).
grant select on app_public.tenants to app_seller, app_shopper;
create policy select_in_tenant on app_public.sellers for select to app_seller, app_shopper
  using (tenant_id = app_public.current_tenant_id());
grant select on app_public.sellers to app_seller, app_shopper;

-- Products. The operator (app_user) and admins see every product of their tenant (select_own, in
-- 000009_marketplace); sellers and shoppers see approved ones, and a seller its own as well.
create policy select_visible on app_public.products for select to app_seller, app_shopper
  using (tenant_id = app_public.current_tenant_id()
         and (status = 'approved' or seller_id = app_public.current_seller_id()));
create policy insert_own on app_public.products for insert to app_seller
  with check (tenant_id = app_public.current_tenant_id() and seller_id = app_public.current_seller_id()
              and status = 'pending' and rejection_reason is null);
create policy update_own on app_public.products for update to app_seller
  using (tenant_id = app_public.current_tenant_id() and seller_id = app_public.current_seller_id())
  with check (tenant_id = app_public.current_tenant_id() and seller_id = app_public.current_seller_id());
create policy delete_own on app_public.products for delete to app_seller
  using (tenant_id = app_public.current_tenant_id() and seller_id = app_public.current_seller_id());
-- An admin token with a tenant_id reviews that tenant's products only; without one, any tenant's.
create policy review_as_admin on app_public.products for update to app_admin
  using (app_private.caller_may_see(tenant_id)) with check (app_private.caller_may_see(tenant_id));
grant select on app_public.products to app_seller, app_shopper;
-- Sellers never get status or rejection_reason: only an admin moves a product out of `pending`.
-- (tenant_id is filled from the seller by the _050_fill_tenant_id trigger.)
grant insert (seller_id, sku, name, description, category, price, currency, stock),
      update (sku, name, description, category, price, currency, stock),
      delete
  on app_public.products to app_seller;
grant update (status, rejection_reason) on app_public.products to app_admin;

create function app_private.tg_products__back_to_pending() returns trigger
language plpgsql volatile as $$
begin
  new.status := 'pending';
  new.rejection_reason := null;
  return new;
end
$$;
comment on function app_private.tg_products__back_to_pending() is
  'Sends an edited product back to review: status `pending`, no rejection reason.';
-- Any change a seller makes to what shoppers read must be approved again. A trigger, so that no
-- client path can skip it. Admins (and the database owner: the tenant's own catalog imports and
-- scrapes, run by workers) edit without losing approval; an UPDATE that sets status itself (an
-- admin's decision) is left alone.
create trigger _200_back_to_pending before update on app_public.products
  for each row when (
    (old.sku, old.name, old.description, old.category, old.price, old.currency, old.stock)
      is distinct from (new.sku, new.name, new.description, new.category, new.price, new.currency, new.stock)
    and old.status is not distinct from new.status
    and not app_public.current_user_is_admin()
    and (old.status <> 'pending' or old.rejection_reason is not null))
  execute function app_private.tg_products__back_to_pending();

-- Reviews: sellers and shoppers read the reviews of the products they may see (the products
-- policy decides, through the subquery); shoppers, and sellers for other shops' products, write
-- reviews of approved products under their own subject. Nobody changes a review through the API.
create policy select_visible on app_public.reviews for select to app_seller, app_shopper
  using (tenant_id = app_public.current_tenant_id()
         and exists (select 1 from app_public.products p where p.id = reviews.product_id));
create policy insert_as_author on app_public.reviews for insert to app_seller, app_shopper
  with check (
    tenant_id = app_public.current_tenant_id()
    and author = app_public.current_user_sub()
    and exists (
      select 1 from app_public.products p
      where p.id = reviews.product_id and p.tenant_id = reviews.tenant_id and p.status = 'approved'
        and p.seller_id is distinct from app_public.current_seller_id()));
grant select on app_public.reviews to app_seller, app_shopper;
-- (tenant_id is filled from the product by the _050_fill_tenant_id trigger.)
grant insert (product_id, author, rating, title, body) on app_public.reviews to app_seller, app_shopper;

-- The checks the API makes before writing, with messages that name the field.
create function app_private.check_product(
  p_sku text, p_name text, p_description text, p_category text, p_price numeric, p_currency text, p_stock integer
) returns void
language plpgsql immutable as $$
begin
  -- p_price is an unconstrained numeric: a numeric(12, 2) variable would already have rounded it.
  if p_sku is null or length(p_sku) not between 1 and 100 then
    raise exception 'sku must be 1 to 100 characters' using errcode = 'FLINV';
  end if;
  if p_name is null or length(p_name) not between 1 and 300 then
    raise exception 'name must be 1 to 300 characters' using errcode = 'FLINV';
  end if;
  if p_description is null or length(p_description) > 20000 then
    raise exception 'description must be at most 20000 characters' using errcode = 'FLINV';
  end if;
  if p_category is null or length(p_category) > 200 then
    raise exception 'category must be at most 200 characters' using errcode = 'FLINV';
  end if;
  if p_price is null or p_price < 0 then
    raise exception 'price must be zero or more, not %', coalesce(p_price::text, 'null') using errcode = 'FLINV';
  end if;
  if p_price <> round(p_price, 2) then
    raise exception 'price % has more than two decimals', p_price using errcode = 'FLINV';
  end if;
  if p_price >= 10000000000 then
    raise exception 'price % is too large (at most 9999999999.99)', p_price using errcode = 'FLINV';
  end if;
  if p_currency is null or p_currency !~ '^[A-Z]{3}$' then
    raise exception 'currency must be an ISO 4217 code of three capital letters, not "%"', p_currency using errcode = 'FLINV';
  end if;
  if p_stock is null or p_stock < 0 then
    raise exception 'stock must be zero or more, not %', coalesce(p_stock::text, 'null') using errcode = 'FLINV';
  end if;
end
$$;
comment on function app_private.check_product(text, text, text, text, numeric, text, integer) is
  'Raises FLINV, naming the field, when a product''s sku, name, description, category, price (at least 0, two decimals at most), currency or stock is out of range.';

create function app_private.require_seller() returns uuid
language plpgsql stable as $$
declare
  v_seller_id uuid := app_public.current_seller_id();
begin
  if v_seller_id is null or current_user <> 'app_seller' then
    raise exception 'only a seller may do this (a token of the app_seller role)' using errcode = 'FLROL';
  end if;
  -- Runs as the caller: the seller must be one of the token's tenant.
  perform 1 from app_public.sellers s where s.id = v_seller_id and s.tenant_id = app_public.current_tenant_id();
  if not found then
    raise exception 'the token''s seller_id % is no seller of its tenant', v_seller_id using errcode = 'FLROL';
  end if;
  return v_seller_id;
end
$$;
comment on function app_private.require_seller() is
  'The seller the request acts for, or FLROL when it does not run as `app_seller` of an existing seller of its tenant.';

create function app_private.find_product(p_product_id uuid) returns app_public.products
language plpgsql stable as $$
declare
  v_product app_public.products;
begin
  -- Runs as the caller, so row level security decides: a product it may not see is "not found".
  select * into v_product from app_public.products p where p.id = p_product_id;
  if v_product.id is null then
    raise exception 'product % not found', p_product_id using errcode = 'FLPNF';
  end if;
  return v_product;
end
$$;
comment on function app_private.find_product(uuid) is 'The product with this id as the caller may see it, or error FLPNF.';

create function app_private.find_own_product(p_product_id uuid) returns app_public.products
language plpgsql stable as $$
declare
  v_seller_id uuid := app_private.require_seller();
  v_product app_public.products := app_private.find_product(p_product_id);
begin
  if v_product.seller_id <> v_seller_id then
    raise exception 'product % belongs to another seller', p_product_id using errcode = 'FLOWN';
  end if;
  return v_product;
end
$$;
comment on function app_private.find_own_product(uuid) is
  'The calling seller''s product with this id; FLROL when the caller is no seller, FLPNF when it can''t see the product, FLOWN when it is another seller''s.';

grant execute on function app_private.check_product(text, text, text, text, numeric, text, integer), app_private.require_seller(),
  app_private.find_product(uuid), app_private.find_own_product(uuid)
  to app_user, app_admin, app_seller, app_shopper;

create function app_public.create_product(
  sku text,
  name text,
  price numeric,
  description text default '',
  category text default '',
  currency text default 'EUR',
  stock integer default 0
) returns app_public.products
language plpgsql volatile as $$
#variable_conflict use_column
declare
  v_seller_id uuid := app_private.require_seller();
  v_product app_public.products;
begin
  perform app_private.check_product(create_product.sku, create_product.name, coalesce(create_product.description, ''),
    coalesce(create_product.category, ''), create_product.price, coalesce(create_product.currency, 'EUR'),
    coalesce(create_product.stock, 0));
  perform 1 from app_public.products p where p.seller_id = v_seller_id and p.sku = create_product.sku;
  if found then
    raise exception 'you already have a product with sku "%"', create_product.sku using errcode = 'FLSKU';
  end if;
  insert into app_public.products (seller_id, sku, name, description, category, price, currency, stock)
  values (v_seller_id, create_product.sku, create_product.name, coalesce(create_product.description, ''),
          coalesce(create_product.category, ''), create_product.price, coalesce(create_product.currency, 'EUR'),
          coalesce(create_product.stock, 0))
  returning * into v_product;
  return v_product;
end
$$;
comment on function app_public.create_product(text, text, numeric, text, text, text, integer) is
  'Creates a product of the calling seller (an `app_seller` token), `pending` until an admin approves it. The price has at most two decimals; price and stock are zero or more (FLINV otherwise); the SKU is unique per seller (FLSKU).';

create function app_public.update_product(
  id uuid,
  sku text default null,
  name text default null,
  description text default null,
  category text default null,
  price numeric default null,
  currency text default null,
  stock integer default null
) returns app_public.products
language plpgsql volatile as $$
#variable_conflict use_column
declare
  v_old app_public.products := app_private.find_own_product(update_product.id);
  v_new app_public.products;
begin
  perform app_private.check_product(
    coalesce(update_product.sku, v_old.sku), coalesce(update_product.name, v_old.name),
    coalesce(update_product.description, v_old.description), coalesce(update_product.category, v_old.category),
    coalesce(update_product.price, v_old.price), coalesce(update_product.currency, v_old.currency),
    coalesce(update_product.stock, v_old.stock));
  v_new.sku := coalesce(update_product.sku, v_old.sku);
  if v_new.sku <> v_old.sku then
    perform 1 from app_public.products p where p.seller_id = v_old.seller_id and p.sku = v_new.sku;
    if found then
      raise exception 'you already have a product with sku "%"', v_new.sku using errcode = 'FLSKU';
    end if;
  end if;
  -- The _200_back_to_pending trigger sends a changed product back to review.
  update app_public.products p set
    sku = coalesce(update_product.sku, p.sku), name = coalesce(update_product.name, p.name),
    description = coalesce(update_product.description, p.description), category = coalesce(update_product.category, p.category),
    price = coalesce(update_product.price, p.price), currency = coalesce(update_product.currency, p.currency),
    stock = coalesce(update_product.stock, p.stock)
  where p.id = v_old.id
  returning * into v_new;
  return v_new;
end
$$;
comment on function app_public.update_product(uuid, text, text, text, text, numeric, text, integer) is
  'Changes fields of one of the calling seller''s products; the fields left out (null) stay as they are. Any change sends the product back to `pending` for an admin to approve again. FLPNF when the product is not visible, FLOWN when it is another seller''s, FLINV for a value out of range.';

create function app_public.delete_product(id uuid) returns app_public.products
language plpgsql volatile as $$
#variable_conflict use_column
declare
  v_product app_public.products := app_private.find_own_product(delete_product.id);
begin
  delete from app_public.products p where p.id = v_product.id returning * into v_product;
  return v_product;
end
$$;
comment on function app_public.delete_product(uuid) is
  'Deletes one of the calling seller''s products (and its reviews) and returns it as it was. FLPNF when the product is not visible, FLOWN when it is another seller''s.';

create function app_public.approve_product(id uuid) returns app_public.products
language plpgsql volatile as $$
#variable_conflict use_column
declare
  v_product app_public.products;
begin
  perform app_private.require_admin();
  v_product := app_private.find_product(approve_product.id);
  update app_public.products p set status = 'approved', rejection_reason = null
  where p.id = v_product.id
  returning * into v_product;
  return v_product;
end
$$;
comment on function app_public.approve_product(uuid) is
  'Admin only (FLADM): approves a product, so that shoppers see it, and clears any rejection reason. An admin token with a tenant_id approves that tenant''s products only (FLPNF for others).';

create function app_public.reject_product(id uuid, reason text default null) returns app_public.products
language plpgsql volatile as $$
#variable_conflict use_column
declare
  v_product app_public.products;
begin
  perform app_private.require_admin();
  v_product := app_private.find_product(reject_product.id);
  if length(reject_product.reason) > 1000 then
    raise exception 'reason must be at most 1000 characters' using errcode = 'FLINV';
  end if;
  update app_public.products p set status = 'rejected', rejection_reason = nullif(reject_product.reason, '')
  where p.id = v_product.id
  returning * into v_product;
  return v_product;
end
$$;
comment on function app_public.reject_product(uuid, text) is
  'Admin only (FLADM): rejects a product, keeping the optional `reason` on it (`rejectionReason`) for its seller to read. Shoppers no longer see it. An admin token with a tenant_id rejects that tenant''s products only (FLPNF for others).';

create function app_public.write_review(
  product_id uuid,
  rating integer,
  title text default '',
  body text default ''
) returns app_public.reviews
language plpgsql volatile as $$
#variable_conflict use_column
declare
  v_author text := app_public.current_user_sub();
  v_product app_public.products;
  v_review app_public.reviews;
begin
  if current_user not in ('app_shopper', 'app_seller') then
    raise exception 'only a shopper (or a seller, for another shop''s product) may write a review' using errcode = 'FLROL';
  end if;
  if v_author is null then
    raise exception 'a review needs an author: the token has no sub' using errcode = 'FLSUB';
  end if;
  -- Runs as the caller: shoppers see approved products only, so a pending, rejected or unknown
  -- product is one answer (FLNAP); a seller also sees its own, which it may not review.
  select * into v_product from app_public.products p where p.id = write_review.product_id;
  if v_product.seller_id = app_public.current_seller_id() then
    raise exception 'a seller can''t review its own product' using errcode = 'FLSLF';
  end if;
  if v_product.id is null or v_product.status <> 'approved' then
    raise exception 'product % is not approved (or does not exist): only approved products can be reviewed', write_review.product_id
      using errcode = 'FLNAP';
  end if;
  if write_review.rating is null or write_review.rating not between 1 and 5 then
    raise exception 'rating must be 1 to 5 stars, not %', coalesce(write_review.rating::text, 'null') using errcode = 'FLINV';
  end if;
  if length(coalesce(write_review.title, '')) > 300 then
    raise exception 'title must be at most 300 characters' using errcode = 'FLINV';
  end if;
  if length(coalesce(write_review.body, '')) > 20000 then
    raise exception 'body must be at most 20000 characters' using errcode = 'FLINV';
  end if;
  perform 1 from app_public.reviews r where r.product_id = v_product.id and r.author = v_author;
  if found then
    raise exception '% already reviewed product %', v_author, v_product.id using errcode = 'FLREV';
  end if;
  begin
    insert into app_public.reviews (product_id, author, rating, title, body)
    values (v_product.id, v_author, write_review.rating, coalesce(write_review.title, ''), coalesce(write_review.body, ''))
    returning * into v_review;
  exception when unique_violation then
    -- The same author's review committed by a concurrent request.
    raise exception '% already reviewed product %', v_author, v_product.id using errcode = 'FLREV';
  end;
  return v_review;
end
$$;
comment on function app_public.write_review(uuid, integer, text, text) is
  'Writes the caller''s review (author: the token''s `sub`) of an approved product: 1 to 5 stars, a title and a text. Shoppers may review any approved product, sellers other shops'' ones; once per author and product (FLREV). FLNAP for a product that is not approved (or not there), FLSLF for a seller''s own product, FLSUB without a `sub`.';

grant execute on function
  app_public.create_product(text, text, numeric, text, text, text, integer),
  app_public.update_product(uuid, text, text, text, text, numeric, text, integer),
  app_public.delete_product(uuid),
  app_public.approve_product(uuid),
  app_public.reject_product(uuid, text),
  app_public.write_review(uuid, integer, text, text)
to app_user, app_admin, app_seller, app_shopper;

-- Recommendations (000014_recommendations): sellers and shoppers read them like everyone of the
-- tenant; what they return is filtered by the products policy above (shoppers get approved
-- products only).
grant select on app_public.product_recommendations to app_seller, app_shopper;
grant execute on function app_public.recommended_products(uuid), app_public.recommendations_for(uuid, integer)
  to app_seller, app_shopper;
