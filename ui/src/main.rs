//! `quicq-ui`: the QuicQ window. Logging, the renderer, where things live, language, then the
//! event loop.
//!
//! `QUICQ_SERVER` and `QUICQ_NICK` fill in the sign-in page; with `QUICQ_PASSWORD` as well the
//! app signs in by itself (kiosks, embedded boards, the screenshot script).

use std::process::ExitCode;

use quicq_ui::SignInAdapter;
use quicq_ui::backend::Options;
use slint::ComponentHandle;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    select_renderer();
    let device = quicq_client::device::default_path()
        .and_then(|p| quicq_client::device::load_or_create(&p).ok());
    let options = Options {
        known_servers: quicq_client::trust::default_known_servers(),
        // The system's defaults; the settings page's choices and then the environment
        // (`QUICQ_DOWNLOAD_DIR`, `QUICQ_ASK_ABOVE_MIB`, `QUICQ_LANG`) win over them.
        downloads: quicq_client::transfer::default_download_dir(),
        device,
        use_system_roots: true,
        saved_files: quicq_ui::saved_files::default_path(),
        ask_above_bytes: Some(quicq_ui::settings::mib_to_bytes(
            quicq_ui::settings::DEFAULT_ASK_ABOVE_MIB,
        )),
    };
    let app = match quicq_ui::start(options, quicq_ui::settings::Overrides::from_env()) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("error: cannot open the window: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sign_in = app.window().global::<SignInAdapter>();
    if let Ok(server) = std::env::var("QUICQ_SERVER") {
        sign_in.set_server(server.into());
    }
    if let Ok(nick) = std::env::var("QUICQ_NICK") {
        sign_in.set_nickname(nick.into());
    }
    if let Ok(password) = std::env::var("QUICQ_PASSWORD") {
        sign_in.set_password(password.into());
        sign_in.invoke_sign_in();
    }
    #[cfg(feature = "desktop")]
    accept_dropped_files(&app);
    #[cfg(feature = "desktop")]
    {
        let weak = app.window().as_weak();
        let _ = slint::spawn_local(async move {
            if let Some(window) = weak.upgrade() {
                fit_to_screen(window.window()).await;
            }
        });
    }
    match app.window().run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Slint's software renderer unless `SLINT_BACKEND` says otherwise: measured here without a
/// GPU, it uses a fraction of the CPU and memory of FemtoVG over software OpenGL, idle and
/// under load (docs/benchmarks.md, "The desktop client's renderer"). It draws emoji only from a
/// font with outline emoji (Debian: fonts-symbola); `SLINT_BACKEND=winit-femtovg` gives colour
/// emoji on a machine with a GPU.
fn select_renderer() {
    if std::env::var_os("SLINT_BACKEND").is_some() {
        return;
    }
    if let Err(e) = slint::BackendSelector::new().renderer_name("software".into()).select() {
        tracing::warn!(cause = %e, "the software renderer is not available; Slint chooses");
    }
}

/// Files dragged from a file manager onto the window are sent to the open conversation.
/// (Slint has no drop event for files from outside; winit's, through Slint's accessor, has.)
#[cfg(feature = "desktop")]
fn accept_dropped_files(app: &std::rc::Rc<quicq_ui::app::App>) {
    use slint::winit_030::winit::event::WindowEvent;
    use slint::winit_030::{EventResult, WinitWindowAccessor};
    let controller = std::rc::Rc::downgrade(app.controller());
    app.window().window().on_winit_window_event(move |_, event| match event {
        WindowEvent::DroppedFile(path) => {
            if let Some(controller) = controller.upgrade() {
                controller.dropped_file(path.clone());
            }
            EventResult::PreventDefault
        }
        _ => EventResult::Propagate,
    });
}

/// Shrinks the window to its screen when it is larger (an 800x480 panel, say), once the
/// system window exists.
#[cfg(feature = "desktop")]
async fn fit_to_screen(window: &slint::Window) {
    use slint::winit_030::WinitWindowAccessor;
    let Ok(system) = window.winit_window().await else { return };
    let screen = system.current_monitor().map(|m| m.size());
    tracing::debug!(?screen, "screen size");
    let Some(screen) = screen else { return };
    let size = window.size();
    if let Some((width, height)) =
        quicq_ui::window_size::fit((size.width, size.height), (screen.width, screen.height))
    {
        window.set_size(slint::PhysicalSize::new(width, height));
    }
}
