//! The group dialog: the new-group form and a group's members panel; its buttons go to the
//! controller, the controller's answers fill it.

use std::rc::Rc;

use quicq_common::protocol::{GroupChange, Role};
use slint::{ComponentHandle, ModelRc, VecModel};

use crate::controller::Controller;
use crate::generated::{GroupAdapter, MainWindow};
use crate::screen::GroupShow;

pub fn connect(window: &MainWindow, controller: &Rc<Controller>) {
    let adapter = window.global::<GroupAdapter>();
    let weak = Rc::downgrade(controller);
    adapter.on_create(move |name, members| {
        if let Some(controller) = weak.upgrade() {
            controller.create_group(&name, &members);
        }
    });
    let change = |make: fn(String) -> GroupChange| {
        let weak = Rc::downgrade(controller);
        move |text: slint::SharedString| {
            if let Some(controller) = weak.upgrade() {
                controller.change_group(make(text.to_string()));
            }
        }
    };
    adapter.on_add(change(|user| GroupChange::Add { user }));
    adapter.on_remove(change(|user| GroupChange::Remove { user }));
    adapter.on_rename(change(|name| GroupChange::Rename { name }));
    adapter.on_set_topic(change(|topic| GroupChange::Topic { topic }));
    let weak = Rc::downgrade(controller);
    adapter.on_leave(move || {
        if let Some(controller) = weak.upgrade() {
            controller.change_group(GroupChange::Leave {});
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_set_role(move |user, role| {
        let role = if role == "admin" { Role::Admin } else { Role::Member };
        if let Some(controller) = weak.upgrade() {
            controller.change_group(GroupChange::Role { user: user.to_string(), role });
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_delete(move || {
        if let Some(controller) = weak.upgrade() {
            controller.change_group(GroupChange::Delete {});
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_close(move || {
        if let Some(controller) = weak.upgrade() {
            controller.close_group_dialog();
        }
    });
}

pub fn show(window: &MainWindow, change: GroupShow) {
    let adapter = window.global::<GroupAdapter>();
    match change {
        GroupShow::Create => {
            adapter.set_name_field("".into());
            adapter.set_members_field("".into());
            adapter.set_mode("create".into());
        }
        GroupShow::Members { group, topic, can_manage, is_owner, members } => {
            if adapter.get_mode() != "members" || adapter.get_group() != group.as_str() {
                adapter.set_name_field("".into());
                adapter.set_add_field("".into());
                adapter.set_topic_field(topic.as_str().into());
            }
            adapter.set_group(group.into());
            adapter.set_topic(topic.into());
            adapter.set_can_manage(can_manage);
            adapter.set_is_owner(is_owner);
            adapter.set_members(ModelRc::new(VecModel::from(members)));
            adapter.set_mode("members".into());
        }
        GroupShow::Error(error) => adapter.set_error(error.into()),
        GroupShow::Closed => {
            adapter.set_mode("".into());
            adapter.set_error("".into());
        }
    }
}
