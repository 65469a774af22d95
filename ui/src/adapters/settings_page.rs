//! The settings page: its choices go to the controller, which applies and saves them; the
//! controller's values and problems fill it, and a language change reaches Slint's bundled
//! translations here.

use std::rc::Rc;

use slint::ComponentHandle;

use crate::controller::Controller;
use crate::generated::{MainWindow, SettingsAdapter};
use crate::screen::SettingsShow;

pub fn connect(window: &MainWindow, controller: &Rc<Controller>) {
    let adapter = window.global::<SettingsAdapter>();
    let text = |apply: fn(&Controller, &str)| {
        let weak = Rc::downgrade(controller);
        move |text: slint::SharedString| {
            if let Some(controller) = weak.upgrade() {
                apply(&controller, &text);
            }
        }
    };
    adapter.on_apply_folder(text(Controller::set_download_dir));
    adapter.on_apply_threshold(text(Controller::set_ask_above));
    adapter.on_set_language(text(Controller::set_language));
    let switch = |apply: fn(&Controller, bool)| {
        let weak = Rc::downgrade(controller);
        move |on: bool| {
            if let Some(controller) = weak.upgrade() {
                apply(&controller, on);
            }
        }
    };
    adapter.on_set_notifications(switch(Controller::set_notifications));
    adapter.on_set_sound(switch(Controller::set_sound));
    adapter.on_set_receipts(switch(Controller::set_receipts));
    let weak = Rc::downgrade(controller);
    adapter.on_choose_folder(move || {
        if let Some(controller) = weak.upgrade() {
            controller.pick_folder();
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_close(move || {
        if let Some(controller) = weak.upgrade() {
            controller.close_settings();
        }
    });
}

pub fn show(window: &MainWindow, change: SettingsShow) {
    let adapter = window.global::<SettingsAdapter>();
    match change {
        SettingsShow::Open(open) => adapter.set_open(open),
        SettingsShow::Page(page) => {
            // The fields start from what is in force; what is typed stays until applied.
            if !adapter.get_open() || adapter.get_download_dir() != page.download_dir.as_str() {
                adapter.set_folder_field(page.download_dir.as_str().into());
            }
            if !adapter.get_open() || adapter.get_threshold_error().is_empty() {
                adapter.set_threshold_field(page.ask_above_mib.as_str().into());
            }
            adapter.set_download_dir(page.download_dir.into());
            adapter.set_download_dir_from_env(page.download_dir_from_env);
            adapter.set_notifications(page.notifications);
            adapter.set_sound(page.sound);
            adapter.set_language(page.language.into());
            adapter.set_language_from_env(page.language_from_env);
            adapter.set_receipts(page.receipts);
            adapter.set_receipts_known(page.receipts_known);
            adapter.set_threshold_from_env(page.ask_above_from_env);
        }
        SettingsShow::FolderError(text) => adapter.set_folder_error(text.into()),
        SettingsShow::ThresholdError(text) => adapter.set_threshold_error(text.into()),
        SettingsShow::Language(lang) => crate::select_language(lang),
    }
}
