-- Up Migration
-- The database owner (the role the migrations, the workers and the server connect as) may be a
-- managed PostgreSQL's master user rather than a superuser. It then needs to be a member of the
-- request roles, as a superuser is implicitly: PostGraphile sets each request's role (SET ROLE
-- needs the membership), and the owner's own edits (catalog imports, scrapes) count as an
-- admin's, keeping a product's approval (current_user_is_admin() asks for app_admin's
-- privileges; without them every import sent the approved products it changed back to pending).
do $$
begin
  grant app_anonymous, app_user, app_admin, app_seller, app_shopper to current_user;
exception when insufficient_privilege then
  raise warning 'finishline: % may not grant itself the request roles: a role administrator must grant app_anonymous, app_user, app_admin, app_seller and app_shopper to it', current_user
    using hint = 'Without them the GraphQL server cannot set a request''s role, and imports send approved products they change back to pending.';
end
$$;
