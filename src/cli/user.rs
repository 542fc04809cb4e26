//! `portcullis user ...`: create, list, show, change and delete users, their passwords and
//! group memberships, and hash passwords for the users file.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::path::Path;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::table::{NONE, Table};
use super::{
    Admin, CliError, Format, emit, emit_json, new_hasher, parse_group, parse_username,
    read_password, timestamp,
};
use crate::authn::Secret;
use crate::identity::users_file::managed_users;
use crate::identity::{GroupName, NewUser, UserRecord, Username, one_time_password};

/// The `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    ///
    /// Without --password-stdin a one-time password is generated, printed once, and must
    /// be changed at first sign-in.
    Add(AddArgs),
    /// List every user.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Show one user: groups, state, times and how many sessions are active.
    Show {
        /// The username.
        #[arg(value_parser = parse_username)]
        name: Username,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Set a new password and end the user's sessions.
    ///
    /// Without --password-stdin a one-time password is generated, printed once, and must
    /// be changed at first sign-in.
    Passwd {
        /// The username.
        #[arg(value_parser = parse_username)]
        name: Username,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user and end their sessions.
    Disable {
        /// The username.
        #[arg(value_parser = parse_username)]
        name: Username,
    },
    /// Enable a disabled user again.
    Enable {
        /// The username.
        #[arg(value_parser = parse_username)]
        name: Username,
    },
    /// Delete a user with their memberships and sessions.
    Delete {
        /// The username.
        #[arg(value_parser = parse_username)]
        name: Username,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
    },
    /// Add users to groups or remove them.
    Groups {
        /// What to do.
        #[command(subcommand)]
        command: GroupsCommand,
    },
    /// Print the Argon2id hash of a password for the users file.
    ///
    /// The hash goes into the `password_hash` of a users file entry. Without
    /// --password-stdin a password is generated and printed with its hash.
    HashPassword {
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// What `user add` takes.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The username (stored lower case).
    #[arg(value_parser = parse_username)]
    pub name: Username,
    /// Email address.
    #[arg(long)]
    pub email: Option<String>,
    /// Display name; the username when not given.
    #[arg(long = "name", value_name = "DISPLAY_NAME")]
    pub display_name: Option<String>,
    /// A group to put the user in; repeat for several.
    #[arg(long = "group", value_name = "GROUP", value_parser = parse_group)]
    pub groups: Vec<GroupName>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

/// The `user groups` subcommands.
#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// Add a user to groups (created when missing).
    Add {
        /// The username.
        #[arg(value_parser = parse_username)]
        name: Username,
        /// The groups.
        #[arg(required = true, value_parser = parse_group)]
        groups: Vec<GroupName>,
    },
    /// Remove a user from groups.
    Remove {
        /// The username.
        #[arg(value_parser = parse_username)]
        name: Username,
        /// The groups.
        #[arg(required = true, value_parser = parse_group)]
        groups: Vec<GroupName>,
    },
}

/// A user as `list` and `show` print them; never the password hash.
#[derive(Serialize)]
struct UserView<'a> {
    username: &'a str,
    display_name: &'a str,
    email: Option<&'a str>,
    groups: Vec<&'a str>,
    disabled: bool,
    must_change_password: bool,
    /// `local` (command line, portal, first administrator) or `users_file`.
    source: &'static str,
    created_at: String,
    updated_at: String,
    last_login_at: Option<String>,
    sessions: usize,
}

/// Runs a `user` subcommand against the store named in the configuration file `config`
/// (not needed by `hash-password`), reading passwords from `input`, printing to `out`.
///
/// # Errors
/// A [`CliError`]; [`CliError::exit_code`] says how the process should end.
pub async fn run_user(
    config: Option<&Path>,
    command: UserCommand,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if let UserCommand::HashPassword { password_stdin } = command {
        return hash_password(password_stdin, input, out).await;
    }
    let admin = Admin::open(config).await?;
    match command {
        UserCommand::Add(args) => add(&admin, args, input, out).await,
        UserCommand::List { format } => list(&admin, format, out).await,
        UserCommand::Show { name, format } => show(&admin, &name, format, out).await,
        UserCommand::Passwd {
            name,
            password_stdin,
        } => passwd(&admin, &name, password_stdin, input, out).await,
        UserCommand::Disable { name } => set_disabled(&admin, &name, true, out).await,
        UserCommand::Enable { name } => set_disabled(&admin, &name, false, out).await,
        UserCommand::Delete { name, yes } => delete(&admin, &name, yes, out).await,
        UserCommand::Groups { command } => groups(&admin, command, out).await,
        UserCommand::HashPassword { password_stdin } => {
            hash_password(password_stdin, input, out).await
        }
    }
}

/// The password from `input`, or a generated one-time password; `true` when generated.
fn password_for(from_input: bool, input: &mut dyn BufRead) -> Result<(Secret, bool), CliError> {
    if from_input {
        Ok((read_password(input)?, false))
    } else {
        Ok((one_time_password()?, true))
    }
}

async fn add(
    admin: &Admin,
    args: AddArgs,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (password, generated) = password_for(args.password_stdin, input)?;
    let new = NewUser {
        username: args.name,
        display_name: args.display_name,
        email: args.email,
        groups: args.groups,
        password: password.clone(),
        must_change_password: generated,
    };
    let user = admin.directory.add_user(new).await?;
    emit(out, &format!("added user `{}`\n", user.username))?;
    if generated {
        announce_password(&user.username, &password, out)?;
    }
    Ok(())
}

/// Prints a generated password: the only time it is ever shown.
fn announce_password(
    username: &Username,
    password: &Secret,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let text = format!(
        "one-time password for `{username}`: {}\n\
         it is shown only this once; `{username}` must choose a new one at first sign-in\n",
        password.expose()
    );
    emit(out, &text)
}

async fn passwd(
    admin: &Admin,
    name: &Username,
    password_stdin: bool,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    admin.user(name).await?;
    let (password, generated) = password_for(password_stdin, input)?;
    admin
        .directory
        .set_password(name, &password, generated)
        .await?;
    emit(
        out,
        &format!("password of `{name}` changed; their sessions have ended\n"),
    )?;
    if generated {
        announce_password(name, &password, out)?;
    }
    Ok(())
}

async fn list(admin: &Admin, format: Format, out: &mut dyn Write) -> Result<(), CliError> {
    let users = admin.directory.list_users().await?;
    let managed = managed_users(&admin.directory).await?;
    let mut sessions: BTreeMap<Username, usize> = BTreeMap::new();
    for session in admin.sessions.list_all().await? {
        *sessions.entry(session.username).or_default() += 1;
    }
    let views: Vec<UserView<'_>> = users
        .iter()
        .map(|user| {
            let count = sessions.get(&user.username).copied().unwrap_or(0);
            view(user, &managed, count)
        })
        .collect();

    if format == Format::Json {
        return emit_json(out, &views);
    }
    if views.is_empty() {
        return emit(out, "no users\n");
    }
    let headers = [
        "USER",
        "NAME",
        "EMAIL",
        "GROUPS",
        "STATUS",
        "SOURCE",
        "SESSIONS",
        "LAST SIGN-IN",
    ];
    let mut table = Table::new(&headers);
    for user in &views {
        table.push(vec![
            user.username.to_owned(),
            user.display_name.to_owned(),
            user.email.unwrap_or(NONE).to_owned(),
            joined(&user.groups),
            status(user).to_owned(),
            user.source.to_owned(),
            user.sessions.to_string(),
            user.last_login_at.clone().unwrap_or_else(|| "never".into()),
        ]);
    }
    emit(out, &table.render())
}

async fn show(
    admin: &Admin,
    name: &Username,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let user = admin.user(name).await?;
    let managed = managed_users(&admin.directory).await?;
    let sessions = admin.sessions.list_for_user(name).await?.len();
    let view = view(&user, &managed, sessions);
    if format == Format::Json {
        return emit_json(out, &view);
    }

    let yes_no = |flag: bool| if flag { "yes" } else { "no" }.to_owned();
    let mut table = Table::new(&[]);
    let rows = [
        ("username", view.username.to_owned()),
        ("display name", view.display_name.to_owned()),
        ("email", view.email.unwrap_or(NONE).to_owned()),
        ("groups", joined(&view.groups)),
        ("disabled", yes_no(view.disabled)),
        ("must change password", yes_no(view.must_change_password)),
        ("source", view.source.to_owned()),
        ("created", view.created_at.clone()),
        ("updated", view.updated_at.clone()),
        (
            "last sign-in",
            view.last_login_at.clone().unwrap_or_else(|| "never".into()),
        ),
        ("active sessions", view.sessions.to_string()),
    ];
    for (label, value) in rows {
        table.push(vec![format!("{label}:"), value]);
    }
    emit(out, &table.render())
}

fn view<'a>(user: &'a UserRecord, managed: &BTreeSet<Username>, sessions: usize) -> UserView<'a> {
    UserView {
        username: user.username.as_str(),
        display_name: &user.display_name,
        email: user.email.as_deref(),
        groups: user.groups.iter().map(GroupName::as_str).collect(),
        disabled: user.disabled,
        must_change_password: user.must_change_password,
        source: if managed.contains(&user.username) {
            "users_file"
        } else {
            "local"
        },
        created_at: timestamp(user.created_at),
        updated_at: timestamp(user.updated_at),
        last_login_at: user.last_login_at.map(timestamp),
        sessions,
    }
}

fn status(user: &UserView<'_>) -> &'static str {
    if user.disabled {
        "disabled"
    } else if user.must_change_password {
        "must change password"
    } else {
        "active"
    }
}

fn joined(names: &[&str]) -> String {
    if names.is_empty() {
        NONE.to_owned()
    } else {
        names.join(",")
    }
}

async fn set_disabled(
    admin: &Admin,
    name: &Username,
    disabled: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    admin.directory.set_disabled(name, disabled).await?;
    let text = if disabled {
        format!("user `{name}` disabled; their sessions have ended\n")
    } else {
        format!("user `{name}` enabled\n")
    };
    emit(out, &text)
}

async fn delete(
    admin: &Admin,
    name: &Username,
    yes: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    admin.user(name).await?;
    if !yes {
        return Err(CliError::DeleteNeedsYes(name.clone()));
    }
    admin.directory.delete_user(name).await?;
    emit(out, &format!("user `{name}` deleted\n"))
}

async fn groups(
    admin: &Admin,
    command: GroupsCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let adding = matches!(command, GroupsCommand::Add { .. });
    let (GroupsCommand::Add { name, groups } | GroupsCommand::Remove { name, groups }) = command;
    admin.user(&name).await?;

    let (mut changed, mut unchanged) = (Vec::new(), Vec::new());
    for group in &groups {
        let done = if adding {
            admin.directory.add_to_group(&name, group).await?
        } else {
            admin.directory.remove_from_group(&name, group).await?
        };
        let list = if done { &mut changed } else { &mut unchanged };
        list.push(group.as_str());
    }

    let mut text = String::new();
    let (done, already) = if adding {
        ("added to", "already in")
    } else {
        ("removed from", "was not in")
    };
    if !changed.is_empty() {
        text.push_str(&format!("`{name}` {done}: {}\n", changed.join(", ")));
    }
    if !unchanged.is_empty() {
        text.push_str(&format!("`{name}` {already}: {}\n", unchanged.join(", ")));
    }
    emit(out, &text)
}

async fn hash_password(
    password_stdin: bool,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (password, generated) = password_for(password_stdin, input)?;
    let hash = new_hasher()?.hash(&password).await?;
    if !generated {
        return emit(out, &format!("{}\n", hash.as_phc()));
    }
    let text = format!(
        "password: {}\npassword_hash: \"{}\"\n\
         the password is shown only this once and stored nowhere; hand it to its user\n",
        password.expose(),
        hash.as_phc()
    );
    emit(out, &text)
}
