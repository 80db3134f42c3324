// Imported first by the CLI: Grafast reads GRAPHILE_ENV as it is loaded, and production (errors
// masked, no dev checks) is the safe default; set GRAPHILE_ENV=development to opt out.
process.env.GRAPHILE_ENV ??= 'production';
