-- Each storefront takes card payments with its own Stripe account: its secret key and webhook signing
-- secret, sealed (AEAD, bound to the tenant). api_base is Stripe's, or a local fake in development and tests.
CREATE TABLE tenant_payment_settings (
    tenant_id           TEXT PRIMARY KEY REFERENCES tenants(id),
    api_base            TEXT NOT NULL,
    secret_key_enc      TEXT NOT NULL,
    webhook_secret_enc  TEXT NOT NULL,
    updated_at          BIGINT NOT NULL
);
