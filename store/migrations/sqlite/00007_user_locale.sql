-- +goose Up
-- The language a person reads authflow in (docs/design.md "Languages"):
-- en or uk; no row means their browser's, else AUTHFLOW_DEFAULT_LOCALE.
CREATE TABLE user_locales (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    locale  TEXT NOT NULL
) STRICT;

-- +goose Down
DROP TABLE user_locales;
