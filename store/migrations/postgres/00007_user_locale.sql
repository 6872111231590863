-- +goose Up
-- The language a person reads authflow in (docs/design.md "Languages"):
-- en or uk; no row means their browser's, else AUTHFLOW_DEFAULT_LOCALE.
CREATE TABLE user_locales (
    user_id text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    locale  text NOT NULL
);

-- +goose Down
DROP TABLE user_locales;
