-- A storefront's own catalogue: each plan's name and description in the reseller's words (NULL: the
-- platform's), besides its retail price and whether it is shown (`active`).
ALTER TABLE plans ADD COLUMN display_name TEXT;
ALTER TABLE plans ADD COLUMN description TEXT;
