//! The one-shot commands: each does one thing against the server, prints the outcome through
//! `print` and returns. The long-running ones (chat, listen) live in `line_mode` and `print`.

use std::path::Path;

use anyhow::{Context, bail};
use quicq_client::{Client, Events};
use quicq_common::Address;

use crate::args::{Command, GroupCommand, OnOff};
use crate::print;

pub async fn run(client: &Client, command: Command, events: Events) -> anyhow::Result<()> {
    match command {
        Command::Chat => crate::line_mode::run(client, events).await,
        Command::Listen => print::listen(events).await,
        Command::SendFile { all, group, args } => {
            let (to, path) = match (all, group, args.as_slice()) {
                (true, None, [path]) => (Address::everyone(), path),
                (false, Some(group), [path]) => (Address::Group(group), path),
                (false, None, [name, path]) => (Address::User(name.clone()), path),
                (true, _, _) => bail!("with --all, give only the file: quicq send-file --all PATH"),
                (false, Some(_), _) => {
                    bail!("with --group, give only the file: quicq send-file --group GROUP PATH")
                }
                (false, None, _) => bail!("give a nickname and a file: quicq send-file NAME PATH"),
            };
            print::send_file(client, to, Path::new(path), events).await
        }
        Command::Send { target, text } => {
            let sent = client.send(target.address(), text.join(" ")).await?;
            println!("sent message {}", sent.id);
            Ok(())
        }
        Command::Reply { id, text, within } => {
            let to = match within.address() {
                Some(to) => to,
                None => conversation_of_message(client, id).await?,
            };
            let sent = client.send_reply(to, text.join(" "), id).await?;
            println!("sent message {}", sent.id);
            Ok(())
        }
        Command::Edit { id, text } => {
            let sent = client.edit(id, text.join(" ")).await?;
            println!("edited message {id} (event {})", sent.id);
            Ok(())
        }
        Command::Recall { id } => {
            let sent = client.recall(id).await?;
            println!("recalled message {id} (event {})", sent.id);
            Ok(())
        }
        Command::React { id, emoji, clear: _ } => {
            let cleared = emoji.is_none();
            let sent = client.react(id, emoji).await?;
            let what = if cleared { "took back your reaction to" } else { "reacted to" };
            println!("{what} message {id} (event {})", sent.id);
            Ok(())
        }
        Command::Search { text, within, limit, before, json } => {
            let page = client.search(text.join(" "), within.address(), before, limit).await?;
            print::search_results(&page.messages, json);
            if page.more && !json {
                let oldest = page.messages.last().map_or(0, |m| m.id);
                eprintln!("(older matches exist: --before {oldest})");
            }
            Ok(())
        }
        Command::History { with, group, all, limit, before, json } => {
            let with = match (with, group, all) {
                (Some(user), _, _) => Address::User(user),
                (_, Some(group), _) => Address::Group(group),
                _ => Address::everyone(),
            };
            let page = client.history(with, before, limit).await?;
            print::history(&page.messages, json);
            if page.more && !json {
                let oldest = page.messages.last().map_or(0, |m| m.id);
                eprintln!("(older messages exist: --before {oldest})");
            }
            Ok(())
        }
        Command::Conversations { json } => {
            print::conversations(&client.conversations().await?, json);
            Ok(())
        }
        Command::Receipts { target, json } => {
            print::receipts(&client.receipts(target.address()).await?, json);
            Ok(())
        }
        Command::Settings { receipts } => {
            let on = match receipts {
                Some(choice) => client.set_receipts(choice == OnOff::On).await?,
                None => client.welcome().receipts,
            };
            println!("read receipts: {}", if on { "on" } else { "off" });
            Ok(())
        }
        Command::Group { command } => group(client, command).await,
        Command::Users { json } => {
            print::users(&client.users().await?, json);
            Ok(())
        }
    }
}

async fn group(client: &Client, command: GroupCommand) -> anyhow::Result<()> {
    let event = match &command {
        GroupCommand::Create { name, members } => {
            let created = client.create_group(name, members.clone()).await?;
            print::say(&format!("created group {}", created.group.name));
            print::members(&created, false);
            return Ok(());
        }
        GroupCommand::Members { group, json } => {
            print::members(&client.group_members(group).await?, *json);
            return Ok(());
        }
        GroupCommand::List { json } => {
            print::groups(&client.groups().await?, *json);
            return Ok(());
        }
        GroupCommand::Add { group, user } => client.add_member(group, user).await?,
        GroupCommand::Remove { group, user } => client.remove_member(group, user).await?,
        GroupCommand::Leave { group } => client.leave_group(group).await?,
        GroupCommand::Rename { group, name } => client.rename_group(group, name).await?,
        GroupCommand::Topic { group, text } => client.set_topic(group, text.join(" ")).await?,
        GroupCommand::Role { group, user, role } => {
            client.set_role(group, user, (*role).into()).await?
        }
        GroupCommand::Delete { group } => client.delete_group(group).await?,
    };
    print::say(&print::change_line(&command, event));
    Ok(())
}

/// The conversation holding message `id`, found by asking each conversation for its newest
/// message up to `id` (there is no request for one message by id).
async fn conversation_of_message(client: &Client, id: u64) -> anyhow::Result<Address> {
    let conversations = client.conversations().await.context("cannot list conversations")?;
    for conversation in conversations.into_iter().filter(|c| c.last_id >= id) {
        let page = client.history(conversation.with.clone(), Some(id + 1), 1).await?;
        if page.messages.first().is_some_and(|m| m.id == id) {
            return Ok(conversation.with);
        }
    }
    bail!("message {id} is in none of your conversations; give --to, --group or --all")
}
