-- Up Migration
-- Counts the review scorer reads for every review (copies of its text, its author's reviews, its
-- product's reviews and ratings), kept by statement-level triggers as reviews change, so that a
-- scoring chunk reads them in O(1) instead of recounting thousands of rows per review.

create table app_private.review_text_counts (
  tenant_id uuid not null,
  body_key text not null,
  copies integer not null,
  primary key (tenant_id, body_key)
);
comment on table app_private.review_text_counts is 'How many reviews of a tenant have each (normalised) text: duplicated texts are a sign of fakes.';
comment on column app_private.review_text_counts.tenant_id is 'The tenant whose reviews are counted.';
comment on column app_private.review_text_counts.body_key is 'The text''s key (review_body_key: md5 of the trimmed, lower-cased body).';
comment on column app_private.review_text_counts.copies is 'How many of the tenant''s reviews have this text (0 once none has: rows are not deleted).';

create table app_private.review_author_counts (
  tenant_id uuid not null,
  author text not null,
  reviews integer not null,
  primary key (tenant_id, author)
);
comment on table app_private.review_author_counts is 'How many reviews each author wrote in a tenant.';
comment on column app_private.review_author_counts.tenant_id is 'The tenant whose reviews are counted.';
comment on column app_private.review_author_counts.author is 'The author, as in reviews.author.';
comment on column app_private.review_author_counts.reviews is 'How many reviews of the tenant the author wrote (0 once none is left: rows are not deleted).';

create table app_private.product_review_stats (
  product_id uuid primary key,
  reviews integer not null,
  rating_sum bigint not null
);
comment on table app_private.product_review_stats is 'Each product''s review count and rating sum (its mean rating is their ratio).';
comment on column app_private.product_review_stats.product_id is 'The product reviewed (no foreign key: kept by the reviews'' triggers).';
comment on column app_private.product_review_stats.reviews is 'How many reviews it has.';
comment on column app_private.product_review_stats.rating_sum is 'The sum of their ratings.';

-- Same-day bursts are counted per review: this index makes that a short range scan.
create index reviews_product_id_created_at_idx on app_public.reviews (product_id, created_at);

create function app_private.review_body_key(p_body text) returns text
language sql immutable parallel safe as $$
  select md5(lower(btrim(p_body)))
$$;
comment on function app_private.review_body_key(text) is 'The key under which copies of a review text are counted.';

create function app_private.tg_reviews__count() returns trigger
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
declare
  v_columns constant text := 'tenant_id, product_id, author, app_private.review_body_key(body) as body_key, rating';
  v_changes text;
begin
  -- Transition tables exist only for the trigger's own event: the changes as +1/-1 rows.
  v_changes := case tg_op
    when 'INSERT' then format('select %s, 1 as n from new_rows', v_columns)
    when 'DELETE' then format('select %s, -1 as n from old_rows', v_columns)
    else format('select %s, 1 as n from new_rows union all select %s, -1 from old_rows', v_columns, v_columns)
  end;
  execute format($sql$
    with r as (%s), texts as (
      insert into app_private.review_text_counts as c (tenant_id, body_key, copies)
      select tenant_id, body_key, sum(n) from r group by tenant_id, body_key having sum(n) <> 0
      on conflict (tenant_id, body_key) do update set copies = c.copies + excluded.copies
      returning 1
    ), authors as (
      insert into app_private.review_author_counts as c (tenant_id, author, reviews)
      select tenant_id, author, sum(n) from r group by tenant_id, author having sum(n) <> 0
      on conflict (tenant_id, author) do update set reviews = c.reviews + excluded.reviews
      returning 1
    ), products as (
      insert into app_private.product_review_stats as c (product_id, reviews, rating_sum)
      select product_id, sum(n), sum(n * rating) from r group by product_id having sum(n) <> 0 or sum(n * rating) <> 0
      on conflict (product_id) do update set reviews = c.reviews + excluded.reviews, rating_sum = c.rating_sum + excluded.rating_sum
      returning 1
    )
    select (select count(*) from texts) + (select count(*) from authors) + (select count(*) from products)
  $sql$, v_changes);
  return null;
end
$$;
comment on function app_private.tg_reviews__count() is 'Keeps the review counters equal to the reviews, once per statement.';
create trigger _500_count_inserted after insert on app_public.reviews
  referencing new table as new_rows for each statement execute function app_private.tg_reviews__count();
create trigger _500_count_updated after update on app_public.reviews
  referencing old table as old_rows new table as new_rows for each statement execute function app_private.tg_reviews__count();
create trigger _500_count_deleted after delete on app_public.reviews
  referencing old table as old_rows for each statement execute function app_private.tg_reviews__count();

-- The review scorer's one query for a chunk.
create function app_private.review_features(p_review_ids uuid[]) returns table (
  review_id uuid, title text, body text, rating integer, verified_purchase boolean, duplicate_count integer,
  author_review_count integer, product_mean_rating real, product_review_count integer, same_day_product_reviews integer
)
language sql stable as $$
  select r.id, r.title, r.body, r.rating::integer, r.verified_purchase,
    case when r.body = '' then 0 else t.copies - 1 end,
    a.reviews, (p.rating_sum::real / p.reviews)::real, p.reviews,
    (select count(*) from app_public.reviews b where b.product_id = r.product_id
       and b.created_at between r.created_at - interval '12 hours' and r.created_at + interval '12 hours')::integer
  from app_public.reviews r
  join app_private.review_text_counts t on t.tenant_id = r.tenant_id and t.body_key = app_private.review_body_key(r.body)
  join app_private.review_author_counts a on a.tenant_id = r.tenant_id and a.author = r.author
  join app_private.product_review_stats p on p.product_id = r.product_id
  where r.id = any(p_review_ids)
$$;
comment on function app_private.review_features(uuid[]) is 'What the review scorer needs to know about each review of a chunk, in one query (counts read from the review counters).';
