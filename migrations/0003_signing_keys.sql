-- Portcullis store schema, version 3: keys that sign identity assertions.
--
-- The newest key without retired_at signs; retired keys stay published in the JWKS until
-- retired_at plus the overlap (longest token lifetime and a margin), then are deleted.
-- private_key is the PKCS#8 DER of a P-256 key, base64; public_x and public_y are the
-- base64url coordinates published in the JWKS. kid is a short hash of the public key.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    private_key TEXT NOT NULL,
    public_x TEXT NOT NULL,
    public_y TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);

CREATE INDEX signing_keys_by_created ON signing_keys (created_at);
