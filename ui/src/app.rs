//! The composition root on the UI thread: the window, the controller, the adapters between
//! them, and the queue of updates from the network thread.

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use slint::ComponentHandle;

use crate::adapters::{self, WindowScreen};
use crate::backend::{Network, Update};
use crate::controller::Controller;
use crate::generated::{AppAdapter, MainWindow};
use crate::i18n::Texts;

pub struct App {
    window: MainWindow,
    controller: Rc<Controller>,
    updates: Receiver<Update>,
    /// Once a second: the reconnect countdown and notices that clear themselves.
    _clock: slint::Timer,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("controller", &self.controller).finish_non_exhaustive()
    }
}

impl App {
    /// Connects the window to the network. `updates` is drained by [`App::pump`], which the
    /// window's `AppAdapter.pump` callback calls whenever the network thread reports something.
    pub fn new(
        window: MainWindow,
        network: Rc<dyn Network>,
        updates: Receiver<Update>,
        texts: Texts,
        settings_path: Option<PathBuf>,
    ) -> Rc<App> {
        let screen = Rc::new(WindowScreen::new(&window));
        let controller = Rc::new(Controller::new(network, screen, texts, settings_path));
        controller.set_notifier(Rc::new(crate::notify::Desktop::start(&window)));
        adapters::connect(&window, &controller);
        let clock = slint::Timer::default();
        let ticked = Rc::downgrade(&controller);
        clock.start(slint::TimerMode::Repeated, Duration::from_secs(1), move || {
            if let Some(controller) = ticked.upgrade() {
                controller.tick();
            }
        });
        let app = Rc::new(App { window, controller, updates, _clock: clock });
        let weak = Rc::downgrade(&app);
        app.window.global::<AppAdapter>().on_pump(move || {
            if let Some(app) = weak.upgrade() {
                app.pump();
            }
        });
        app
    }

    pub fn window(&self) -> &MainWindow {
        &self.window
    }

    pub fn controller(&self) -> &Rc<Controller> {
        &self.controller
    }

    /// Applies everything the network thread has reported so far.
    pub fn pump(&self) {
        while let Ok(update) = self.updates.try_recv() {
            self.controller.apply(update);
        }
    }
}
