//! Renders the main window with Slint's software renderer, without any display, and writes it as
//! PNG: once at desktop size and once at 800x480, the embedded target. Populated through the
//! controller with a fake network, as the real app would be.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::mpsc;

use quicq_client::{ConnState, Event, TransferEvent, TransferKey};
use quicq_common::protocol::{
    Address, ChatMessage, FileInfo, GroupInfo, Quote, Reaction, UserInfo,
};
use quicq_ui::MainWindow;
use quicq_ui::app::App;
use quicq_ui::backend::{Command, Network, Update};
use quicq_ui::i18n::{Lang, Texts};
use slint::ComponentHandle;
use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};

struct Headless {
    window: Rc<MinimalSoftwareWindow>,
}

impl slint::platform::Platform for Headless {
    fn create_window_adapter(
        &self,
    ) -> Result<Rc<dyn slint::platform::WindowAdapter>, slint::PlatformError> {
        Ok(self.window.clone())
    }
}

struct NoNetwork;

impl Network for NoNetwork {
    fn command(&self, _: Command) {}
}

fn message(id: u64, from: &str, to: Address, text: &str) -> ChatMessage {
    let at = chrono::Local::now().timestamp_millis() - (20 - id as i64) * 60_000;
    ChatMessage {
        id,
        from: from.into(),
        to,
        text: text.into(),
        at,
        file: None,
        ..Default::default()
    }
}

/// A signed-in window with a few people, messages, a file and a running transfer.
fn populated(updates: &mpsc::Sender<Update>) {
    let users = ["alice", "bob", "小明", "carol", "dave"]
        .iter()
        .enumerate()
        .map(|(i, n)| UserInfo { name: (*n).into(), online: i != 3 })
        .collect();
    let groups = vec![
        GroupInfo { name: "everyone".into(), members: 5, ..Default::default() },
        GroupInfo { name: "rust-中文".into(), members: 3, ..Default::default() },
    ];
    updates.send(Update::SignedIn { me: "alice".into(), users, groups }).unwrap();
    let everyone = Address::everyone();
    let texts = [
        (1, "bob", "Morning! Is the server up again?"),
        (2, "alice", "Yes, running on the new host since 8:00. Same join link."),
        (3, "小明", "收到，谢谢！文件传输也正常。"),
        (4, "carol", "Great. Sharing the slides from yesterday in a minute."),
    ];
    for (id, from, text) in texts {
        let mut m = message(id, from, everyone.clone(), text);
        if id == 2 {
            m.edited_at = Some(m.at + 30_000);
        }
        if id == 3 {
            m.reactions =
                vec![Reaction { emoji: "👍".into(), users: vec!["bob".into(), "carol".into()] }];
        }
        updates.send(Update::Event(Event::Message(m))).unwrap();
    }
    let mut file = message(5, "carol", everyone.clone(), "");
    file.file = Some(FileInfo {
        id: 1,
        name: "slides-2026-11.pdf".into(),
        size: 4_718_592,
        blake3: String::new(),
        transfer_id: String::new(),
    });
    updates.send(Update::Event(Event::Message(file))).unwrap();
    updates
        .send(Update::Event(Event::Transfer(TransferEvent::Progress {
            key: TransferKey::Download(1),
            name: "slides-2026-11.pdf".into(),
            done: 3_000_000,
            total: 4_718_592,
            bytes_per_sec: 9_500_000.0,
        })))
        .unwrap();
    // A reply with its quote, and a recalled message.
    let mut reply = message(7, "dave", everyone.clone(), "It is: I checked at 8:05.");
    reply.reply_to = Some(Box::new(Quote {
        id: 1,
        from: "bob".into(),
        text: "Morning! Is the server up again?".into(),
        ..Quote::default()
    }));
    updates.send(Update::Event(Event::Message(reply))).unwrap();
    let mut recalled = message(8, "bob", everyone.clone(), "");
    recalled.recalled = true;
    updates.send(Update::Event(Event::Message(recalled))).unwrap();
    updates
        .send(Update::Event(Event::Message(message(
            6,
            "bob",
            Address::User("alice".into()),
            "lunch?",
        ))))
        .unwrap();
    updates
        .send(Update::Event(Event::State(ConnState::Connected { you: "alice".into() })))
        .unwrap();
}

fn render(window: &MinimalSoftwareWindow, width: u32, height: u32, name: &str) -> PathBuf {
    window.set_size(slint::PhysicalSize::new(width, height));
    slint::platform::update_timers_and_animations();
    window.request_redraw();
    let mut pixels = vec![slint::Rgb8Pixel::default(); (width * height) as usize];
    let drawn = window.draw_if_needed(|renderer| {
        renderer.render(&mut pixels, width as usize);
    });
    assert!(drawn, "the window drew a frame");

    let distinct: std::collections::HashSet<(u8, u8, u8)> =
        pixels.iter().map(|p| (p.r, p.g, p.b)).collect();
    assert!(distinct.len() > 16, "{name}: the frame is (nearly) blank: {} colours", distinct.len());

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(name);
    let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut encoder = png::Encoder::new(file, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let bytes: Vec<u8> = pixels.iter().flat_map(|p| [p.r, p.g, p.b]).collect();
    encoder.write_header().unwrap().write_image_data(&bytes).unwrap();
    path
}

fn png_size(path: &PathBuf) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let reader = decoder.read_info().unwrap();
    (reader.info().width, reader.info().height)
}

#[test]
fn main_window_renders_headless_at_desktop_and_embedded_sizes() {
    let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
    slint::platform::set_platform(Box::new(Headless { window: window.clone() })).unwrap();

    let ui = MainWindow::new().unwrap();
    let (tx, rx) = mpsc::channel();
    let app = App::new(ui, Rc::new(NoNetwork), rx, Texts::new(Lang::English), None);
    app.window().show().unwrap();

    // The sign-in page first.
    let path = render(&window, 1000, 680, "quicq-sign-in.png");
    assert_eq!(png_size(&path), (1000, 680));

    populated(&tx);
    app.pump();
    let path = render(&window, 1000, 680, "quicq-main-window.png");
    assert_eq!(png_size(&path), (1000, 680));
    let path = render(&window, 800, 480, "quicq-main-window-800x480.png");
    assert_eq!(png_size(&path), (800, 480));

    // The settings page, in English and in Chinese, at both sizes.
    app.controller().use_environment(
        quicq_ui::settings::Overrides::default(),
        quicq_ui::controller::System {
            downloads: "/home/alice/Downloads/QuicQ".into(),
            lang: Lang::English,
        },
    );
    tx.send(Update::ReceiptsSetting(true)).unwrap();
    app.pump();
    app.controller().open_settings();
    for (lang, suffix) in [("en", ""), ("zh", "-zh")] {
        app.controller().set_language(lang);
        let path = render(&window, 1000, 680, &format!("quicq-settings{suffix}.png"));
        assert_eq!(png_size(&path), (1000, 680));
        let path = render(&window, 800, 480, &format!("quicq-settings{suffix}-800x480.png"));
        assert_eq!(png_size(&path), (800, 480));
    }
    app.controller().set_language("en");
    app.controller().close_settings();

    // The server came back with another certificate during the session.
    tx.send(Update::TrustChanged {
        server: "chat.example.org:7373".into(),
        expected: quicq_common::Fingerprint([0x5A; 32]),
        presented: quicq_common::Fingerprint(std::array::from_fn(|i| i as u8 * 7)),
    })
    .unwrap();
    app.pump();
    let path = render(&window, 800, 480, "quicq-certificate-changed-800x480.png");
    assert_eq!(png_size(&path), (800, 480));
    eprintln!("screenshots in {}", path.parent().unwrap().display());
}
