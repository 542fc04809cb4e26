-- Portcullis store schema, version 2: who manages each user.
--
-- NULL for users made by the command line, the first-administrator step or the portal;
-- 'users_file' for users the declarative users file created. The users-file sync changes
-- only users marked 'users_file', and disables (never deletes) those that leave the file.
ALTER TABLE users ADD COLUMN source TEXT;
