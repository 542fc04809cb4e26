-- Portcullis store schema, version 1.
--
-- Portable between SQLite and PostgreSQL: TEXT and BIGINT columns only, times as unix
-- milliseconds, booleans as 0/1, no auto-increment keys, no database-specific functions.

-- Change counters other processes poll cheaply (one row read) to notice writes.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

INSERT INTO counters (name, value) VALUES ('directory_version', 0);
INSERT INTO counters (name, value) VALUES ('revocation_generation', 0);

CREATE TABLE users (
    username TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    email TEXT,
    password_hash TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    must_change_password BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_login_at BIGINT
);

CREATE TABLE user_groups (
    name TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_name TEXT NOT NULL REFERENCES user_groups (name) ON DELETE CASCADE,
    username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (group_name, username)
);

CREATE INDEX group_members_by_user ON group_members (username);

-- id_hash is the SHA-256 (hex) of the cookie value; the cookie value itself is never stored.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    idle_timeout_ms BIGINT NOT NULL,
    remember_me BIGINT NOT NULL,
    amr TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    parent_hash TEXT REFERENCES sessions (id_hash) ON DELETE CASCADE,
    app_host TEXT,
    revoked BIGINT NOT NULL DEFAULT 0,
    user_agent TEXT,
    client_ip TEXT
);

CREATE INDEX sessions_by_user ON sessions (username);
CREATE INDEX sessions_by_parent ON sessions (parent_hash);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- One-time codes that carry a portal session to an app host; stored hashed, single use.
CREATE TABLE handoff_codes (
    code_hash TEXT PRIMARY KEY,
    session_hash TEXT NOT NULL REFERENCES sessions (id_hash) ON DELETE CASCADE,
    app_host TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX handoff_codes_by_session ON handoff_codes (session_hash);

-- Failure counters keyed on the canonical username, whether or not the user exists.
CREATE TABLE login_throttle (
    username TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    locked_until BIGINT NOT NULL
);
