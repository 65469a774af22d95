//! The language: English or Simplified Chinese, chosen on the settings page or from the system
//! locale (`QUICQ_LANG` decides over both). Texts in `.slint` files
//! use `@tr` with the bundled translation in `lang/`; the few texts made in Rust (status,
//! errors, counts) come from here.

use quicq_common::protocol::{ErrorCode, Event, Role};

use crate::address::AddressProblem;
use crate::problem::{FolderProblem, Problem, ThresholdProblem};

/// Which language the interface speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    English,
    Chinese,
}

impl Lang {
    /// The system locale's language (`zh*` means Chinese); `QUICQ_LANG` and the settings page
    /// decide over it ([`crate::settings::Effective`]).
    pub fn system() -> Lang {
        Lang::from_locale(&sys_locale::get_locale().unwrap_or_default())
    }

    pub fn from_locale(locale: &str) -> Lang {
        if locale.to_ascii_lowercase().starts_with("zh") { Lang::Chinese } else { Lang::English }
    }

    /// The bundled translation to select (`None` keeps the English source texts).
    pub fn slint_translation(self) -> Option<&'static str> {
        match self {
            Lang::English => None,
            Lang::Chinese => Some("zh_CN"),
        }
    }
}

/// Texts made in Rust, in one language.
#[derive(Debug, Clone, Copy)]
pub struct Texts {
    lang: Lang,
}

macro_rules! pick {
    ($self:ident, $en:expr, $zh:expr) => {
        match $self.lang {
            Lang::English => $en,
            Lang::Chinese => $zh,
        }
    };
}

/// Texts of the bubble menu, the composer's modes, receipts and typing.
mod life;

impl Texts {
    pub fn new(lang: Lang) -> Self {
        Texts { lang }
    }

    pub fn english() -> Self {
        Texts { lang: Lang::English }
    }

    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// The separator above the first message of `day`, seen on `today`: "Today", "Yesterday",
    /// else the date ("December 1", "12月1日"), with the year when it is another.
    pub fn day(&self, day: chrono::NaiveDate, today: chrono::NaiveDate) -> String {
        use chrono::Datelike;
        if day == today {
            return pick!(self, "Today", "今天").into();
        }
        if today.pred_opt() == Some(day) {
            return pick!(self, "Yesterday", "昨天").into();
        }
        const MONTHS: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        let month = MONTHS[day.month0() as usize];
        let (y, m, d) = (day.year(), day.month(), day.day());
        match (self.lang, y == today.year()) {
            (Lang::English, true) => format!("{month} {d}"),
            (Lang::English, false) => format!("{month} {d}, {y}"),
            (Lang::Chinese, true) => format!("{m}月{d}日"),
            (Lang::Chinese, false) => format!("{y}年{m}月{d}日"),
        }
    }

    /// Why a download folder cannot be used.
    pub fn folder_problem(&self, problem: FolderProblem) -> String {
        match problem {
            FolderProblem::Empty => {
                pick!(self, "Type a folder, or choose one.", "请输入或选择一个文件夹。")
            }
            FolderProblem::Missing => {
                pick!(self, "That folder does not exist.", "该文件夹不存在。")
            }
            FolderProblem::NotAFolder => {
                pick!(self, "That is a file, not a folder.", "这是一个文件，不是文件夹。")
            }
            FolderProblem::NotWritable => pick!(
                self,
                "Files cannot be saved in that folder (no permission to write).",
                "无法在该文件夹中保存文件（没有写入权限）。"
            ),
        }
        .into()
    }

    /// Why a size limit typed is not one.
    pub fn threshold_problem(&self, problem: ThresholdProblem) -> String {
        match problem {
            ThresholdProblem::NotANumber => pick!(
                self,
                "Type a whole number of MiB (0 asks about every file).",
                "请输入以 MiB 为单位的整数（0 表示每个文件都询问）。"
            ),
        }
        .into()
    }

    /// The read-receipts switch did not reach the server.
    pub fn receipts_not_changed(&self, why: &str) -> String {
        pick!(
            self,
            format!("Read receipts not changed: {why}"),
            format!("已读回执设置未更改：{why}")
        )
    }

    pub fn everyone(&self, online: usize) -> String {
        pick!(self, format!("Everyone ({online} online)"), format!("所有人（{online} 人在线）"))
    }

    /// One's own name in a preview line ("You: …").
    pub fn you(&self) -> &'static str {
        pick!(self, "You", "我")
    }

    /// A preview line: who said what.
    pub fn said(&self, sender: &str, what: &str) -> String {
        pick!(self, format!("{sender}: {what}"), format!("{sender}：{what}"))
    }

    /// How many of a group's members are online.
    pub fn online(&self, n: usize) -> String {
        pick!(self, format!("{n} online"), format!("{n} 人在线"))
    }

    pub fn group_title(&self, name: &str) -> String {
        pick!(self, format!("Group {name}"), format!("群组 {name}"))
    }

    /// What a recalled message shows instead of its text.
    pub fn recalled(&self) -> &'static str {
        pick!(self, "(message recalled)", "（消息已撤回）")
    }

    /// The mark after an edited message's text.
    pub fn edited(&self) -> &'static str {
        pick!(self, "(edited)", "（已编辑）")
    }

    /// A membership event as a line of the conversation; `None` for events that are not shown
    /// as lines (changes to other messages, kinds this build does not know).
    pub fn event(&self, from: &str, event: &Event) -> Option<String> {
        let role = |role: &Role| match role {
            Role::Owner => pick!(self, "the owner", "群主"),
            Role::Admin => pick!(self, "an admin", "管理员"),
            Role::Member => pick!(self, "a member", "普通成员"),
        };
        Some(match event {
            Event::Created { name } => {
                pick!(
                    self,
                    format!("{from} created the group {name}"),
                    format!("{from} 创建了群组 {name}")
                )
            }
            Event::Added { user } => {
                pick!(self, format!("{from} added {user}"), format!("{from} 添加了 {user}"))
            }
            Event::Left {} => {
                pick!(self, format!("{from} left the group"), format!("{from} 退出了群组"))
            }
            Event::Removed { user } => {
                pick!(self, format!("{from} removed {user}"), format!("{from} 移除了 {user}"))
            }
            Event::Renamed { name, old } => pick!(
                self,
                format!("{from} renamed the group from {old} to {name}"),
                format!("{from} 将群组 {old} 改名为 {name}")
            ),
            Event::Topic { topic } if topic.is_empty() => {
                pick!(self, format!("{from} cleared the topic"), format!("{from} 清除了群话题"))
            }
            Event::Topic { topic } => {
                pick!(
                    self,
                    format!("{from} set the topic: {topic}"),
                    format!("{from} 将群话题设为：{topic}")
                )
            }
            Event::Role { user, role: r } => {
                pick!(
                    self,
                    format!("{user} is now {}", role(r)),
                    format!("{user} 现在是{}", role(r))
                )
            }
            Event::Deleted {} => {
                pick!(self, format!("{from} deleted the group"), format!("{from} 解散了群组"))
            }
            _ => return None,
        })
    }

    pub fn everyone_title(&self) -> String {
        pick!(self, "Everyone".to_owned(), "所有人".to_owned())
    }

    pub fn chat_with(&self, name: &str) -> String {
        pick!(self, format!("Chat with {name}"), format!("与 {name} 聊天"))
    }

    pub fn saved(&self) -> &'static str {
        pick!(self, "saved", "已保存")
    }

    /// A file larger than one downloads by oneself, waiting for an answer.
    pub fn offered(&self) -> &'static str {
        pick!(self, "large file: download it?", "大文件：要下载吗？")
    }

    pub fn declined(&self) -> &'static str {
        pick!(self, "declined", "已拒收")
    }

    pub fn receiving(&self, percent: u32) -> String {
        pick!(self, format!("receiving {percent} %"), format!("接收中 {percent}%"))
    }

    pub fn transfer_detail(&self, done: &str, total: &str, rate: &str) -> String {
        pick!(self, format!("{done} of {total} · {rate}"), format!("{done} / {total} · {rate}"))
    }

    pub fn connected(&self, me: &str) -> String {
        pick!(self, format!("Connected as {me}"), format!("已连接，昵称 {me}"))
    }

    pub fn reconnecting(&self, secs: u64) -> String {
        pick!(
            self,
            format!("Connection lost; reconnecting in {secs} s…"),
            format!("连接已断开，{secs} 秒后重新连接…")
        )
    }

    /// The root of the tree while the link is down, instead of a count nobody can trust.
    pub fn everyone_offline(&self) -> String {
        pick!(self, "Everyone (offline)".to_owned(), "所有人（离线）".to_owned())
    }

    /// The countdown reached zero: the attempt is under way.
    pub fn reconnecting_now(&self) -> &'static str {
        pick!(self, "Connection lost; reconnecting now…", "连接已断开，正在重新连接…")
    }

    /// Given up; the reason went to the log, the window says only this (and, if known,
    /// [`Texts::offline_because`]).
    pub fn offline(&self) -> &'static str {
        pick!(self, "Offline", "离线")
    }

    /// Offline for a reason already put in words by this module.
    pub fn offline_because(&self, why: &str) -> String {
        pick!(self, format!("Offline: {why}"), format!("离线：{why}"))
    }

    pub fn certificate_changed(&self) -> &'static str {
        pick!(self, "Offline: the server's certificate has changed", "离线：服务器的证书已更改")
    }

    /// Why the server field was not tried.
    pub fn address(&self, problem: &AddressProblem) -> String {
        let how = pick!(
            self,
            "Enter the server as host:port (for example chat.example.org:7373) or paste a quicq:// join link.",
            "请按“主机:端口”填写服务器（例如 chat.example.org:7373），或粘贴 quicq:// 邀请链接。"
        );
        match problem {
            AddressProblem::OtherScheme(scheme) => pick!(
                self,
                format!("A {scheme}:// address is a web address, not a QuicQ server. {how}"),
                format!("{scheme}:// 是网页地址，不是 QuicQ 服务器。{how}")
            ),
            AddressProblem::BadPort => pick!(
                self,
                format!("The port after the colon must be a number from 1 to 65535. {how}"),
                format!("冒号后的端口必须是 1 到 65535 之间的数字。{how}")
            ),
            AddressProblem::BadLink => pick!(
                self,
                "This join link is damaged; copy it again from whoever gave it to you.".to_owned(),
                "此邀请链接已损坏，请向提供者重新复制。".to_owned()
            ),
            AddressProblem::Invalid => pick!(
                self,
                format!("The server address is not valid. {how}"),
                format!("服务器地址无效。{how}")
            ),
        }
    }

    /// A failure in words, without the library's English details (those go to the log).
    pub fn problem(&self, problem: &Problem) -> &'static str {
        match problem {
            Problem::Offline => pick!(self, "not connected to the server", "未连接到服务器"),
            Problem::ConnectionLost => pick!(self, "the connection was lost", "连接已断开"),
            Problem::NoSuchFile => pick!(self, "there is no such file", "文件不存在"),
            Problem::CannotRead => pick!(self, "the file cannot be read", "无法读取该文件"),
            Problem::Cancelled => pick!(self, "cancelled", "已取消"),
            Problem::NoOpener => {
                pick!(self, "no program is set up to open it", "没有可以打开它的程序")
            }
            Problem::Other => {
                pick!(self, "an unexpected error (see the log)", "意外错误（详见日志）")
            }
            Problem::Refused(code) => self.refused(*code),
        }
    }

    fn refused(&self, code: ErrorCode) -> &'static str {
        match code {
            ErrorCode::TextTooLong => pick!(self, "the message is too long", "消息太长"),
            ErrorCode::EmptyText => pick!(self, "the message is empty", "消息为空"),
            ErrorCode::UnknownRecipient => pick!(self, "no such user", "没有这个用户"),
            ErrorCode::RateLimited => {
                pick!(self, "too many at once; try again shortly", "操作过于频繁，请稍后再试")
            }
            ErrorCode::FileTooLarge => {
                pick!(self, "the file is larger than the server allows", "文件超过服务器允许的大小")
            }
            ErrorCode::QuotaExceeded => {
                pick!(self, "the server's storage is full", "服务器存储空间已满")
            }
            ErrorCode::Cancelled => pick!(self, "cancelled", "已取消"),
            ErrorCode::NotAllowed | ErrorCode::NotMember => {
                pick!(self, "you are not allowed to do that", "你没有权限这样做")
            }
            ErrorCode::Internal | ErrorCode::ShuttingDown => {
                pick!(self, "the server had a problem; try again", "服务器出现问题，请重试")
            }
            ErrorCode::UploadIdle => pick!(self, "the upload stalled", "上传停滞"),
            ErrorCode::HashMismatch | ErrorCode::SizeMismatch => {
                pick!(self, "the file arrived damaged", "文件传输时损坏")
            }
            _ => pick!(self, "the server refused it", "服务器拒绝了该操作"),
        }
    }

    pub fn wrong_password(&self) -> &'static str {
        // A closed server answers an unknown nickname the same way, so either may be wrong.
        pick!(self, "Wrong nickname or password.", "昵称或密码不正确。")
    }

    pub fn weak_password(&self) -> &'static str {
        pick!(
            self,
            "A new account needs a password of at least 8 characters.",
            "新账号的密码至少需要 8 个字符。"
        )
    }

    pub fn registration_closed(&self) -> &'static str {
        pick!(
            self,
            "No account has this nickname, and this server does not accept new accounts.",
            "没有使用此昵称的账号，且此服务器不接受注册新账号。"
        )
    }

    /// The server's reason is English and stays in the log.
    pub fn invalid_nickname(&self) -> &'static str {
        pick!(
            self,
            "This nickname cannot be used; choose another one.",
            "无法使用此昵称，请换一个。"
        )
    }

    pub fn unreachable(&self, server: &str) -> String {
        pick!(
            self,
            format!("Cannot reach the server at {server}. Check the address and your network."),
            format!("无法连接服务器 {server}，请检查地址和网络。")
        )
    }

    pub fn wrong_protocol(&self) -> &'static str {
        pick!(self, "That server does not speak the QuicQ protocol.", "该服务器不是 QuicQ 服务器。")
    }

    pub fn untrusted(&self) -> &'static str {
        pick!(self, "The server's certificate could not be verified.", "无法验证服务器的证书。")
    }

    pub fn not_trusted(&self) -> &'static str {
        pick!(self, "Not connected: the server was not trusted.", "未连接：未信任该服务器。")
    }

    pub fn fill_in(&self) -> &'static str {
        pick!(
            self,
            "Enter the server, your nickname and your password.",
            "请填写服务器、昵称和密码。"
        )
    }

    pub fn failed(&self) -> &'static str {
        pick!(self, "Something went wrong; the log has the details.", "出错了，详情见日志。")
    }

    pub fn file_sent(&self, name: &str) -> String {
        pick!(self, format!("Sent {name}"), format!("已发送 {name}"))
    }

    pub fn file_not_sent(&self, why: &Problem) -> String {
        let why = self.problem(why);
        pick!(self, format!("File not sent: {why}"), format!("文件未发送：{why}"))
    }

    pub fn cannot_open(&self, name: &str, why: &Problem) -> String {
        let why = self.problem(why);
        pick!(self, format!("Cannot open {name}: {why}"), format!("无法打开 {name}：{why}"))
    }

    pub fn delivered(&self, to: &str) -> String {
        pick!(self, format!("{to} saved your file"), format!("{to} 已接收你的文件"))
    }

    pub fn not_sent(&self, why: &str) -> String {
        pick!(self, format!("Message not sent: {why}"), format!("消息未发送：{why}"))
    }

    /// Why a group could not be created or changed, in this language: the server's rules by
    /// their code (its English words go to the log). `None`: not connected.
    pub fn group_refused(&self, code: Option<ErrorCode>) -> String {
        let text = match code {
            None => pick!(self, "Not connected.", "未连接。"),
            Some(ErrorCode::InvalidGroupName) => pick!(
                self,
                "That cannot be a group name. Group names follow the rules of nicknames: no spaces, not only punctuation, no look-alike letters from other scripts, and not too long.",
                "这个名称不能用作群组名。群组名的规则与昵称相同：不含空格，不能只有标点，不能混用外观相似的其他文字字母，且不能太长。"
            ),
            Some(ErrorCode::NameTaken) => pick!(
                self,
                "That name is taken, or looks too much like a taken one (or like Everyone).",
                "这个名称已被使用，或与已有名称（或“所有人”）过于相似。"
            ),
            Some(ErrorCode::UnknownRecipient) => {
                pick!(self, "There is no user by that nickname.", "没有这个昵称的用户。")
            }
            Some(ErrorCode::NotAllowed) => {
                pick!(
                    self,
                    "Your role in the group does not allow that.",
                    "你在群组中的身份不允许这样做。"
                )
            }
            Some(ErrorCode::NotMember) => {
                pick!(self, "That user is not a member.", "该用户不是成员。")
            }
            Some(ErrorCode::AlreadyMember) => {
                pick!(self, "That user is a member already.", "该用户已经是成员。")
            }
            Some(ErrorCode::TooManyGroups) => pick!(
                self,
                "That would be more groups than the server allows for one user.",
                "这将超过服务器允许每个用户加入的群组数。"
            ),
            Some(ErrorCode::GroupFull) => {
                pick!(self, "The group is full.", "群组已满。")
            }
            Some(ErrorCode::TopicTooLong) => pick!(self, "The topic is too long.", "话题太长。"),
            Some(ErrorCode::RateLimited) => {
                pick!(self, "Too many changes at once; try again.", "操作过于频繁，请稍后再试。")
            }
            Some(code) => {
                return pick!(
                    self,
                    format!("The server refused it ({code})."),
                    format!("服务器拒绝了（{code}）。")
                );
            }
        };
        text.to_owned()
    }

    pub fn searching(&self) -> &'static str {
        pick!(self, "Searching…", "正在搜索…")
    }

    pub fn nothing_found(&self) -> &'static str {
        pick!(self, "No messages found.", "没有找到消息。")
    }

    /// More matches exist than are shown.
    pub fn more_found(&self, shown: usize) -> String {
        pick!(
            self,
            format!("The newest {shown} matches; type more to narrow the search."),
            format!("最新的 {shown} 条结果；输入更多文字以缩小范围。")
        )
    }

    pub fn search_failed(&self, code: Option<ErrorCode>) -> String {
        match code {
            None => pick!(self, "Not connected.", "未连接。").to_owned(),
            Some(ErrorCode::InvalidSearch) => {
                pick!(self, "Search text is empty or too long.", "搜索文字为空或太长。").to_owned()
            }
            Some(ErrorCode::RateLimited) => {
                pick!(self, "Too many searches at once; try again.", "搜索过于频繁，请稍后再试。")
                    .to_owned()
            }
            Some(code) => pick!(
                self,
                format!("The server refused the search ({code})."),
                format!("服务器拒绝了搜索（{code}）。")
            ),
        }
    }

    /// A member's role in the members panel.
    pub fn role(&self, role: Role) -> &'static str {
        match role {
            Role::Owner => pick!(self, "owner", "群主"),
            Role::Admin => pick!(self, "admin", "管理员"),
            Role::Member => pick!(self, "member", "成员"),
        }
    }

    /// Why a message was not sent, in this language (never the server's English words).
    pub fn send_failure(&self, why: &crate::backend::SendFailure) -> String {
        use crate::backend::SendFailure;
        use quicq_common::protocol::ErrorCode;
        let text = match why {
            SendFailure::Offline => pick!(self, "not connected", "未连接"),
            SendFailure::Refused(ErrorCode::TextTooLong) => {
                pick!(self, "the message is too long", "消息太长")
            }
            SendFailure::Refused(ErrorCode::EmptyText) => {
                pick!(self, "the message is empty", "消息为空")
            }
            SendFailure::Refused(ErrorCode::UnknownRecipient) => {
                pick!(self, "there is no such user", "没有这个用户")
            }
            SendFailure::Refused(ErrorCode::NotMember) => {
                pick!(self, "you are not in this group", "你不在这个群组中")
            }
            SendFailure::Refused(ErrorCode::RateLimited) => {
                pick!(self, "too many messages at once", "发送过于频繁")
            }
            SendFailure::Refused(ErrorCode::TooLate) => {
                pick!(self, "the time allowed for that has passed", "已超过允许的时间")
            }
            SendFailure::Refused(ErrorCode::NotAllowed) => {
                pick!(self, "it is not your message", "这不是你的消息")
            }
            SendFailure::Refused(ErrorCode::UnknownMessage) => {
                pick!(self, "that message is no longer there", "该消息已不存在")
            }
            SendFailure::Refused(ErrorCode::InvalidEmoji) => {
                pick!(self, "that is not a single emoji", "这不是单个表情")
            }
            SendFailure::Refused(code) => {
                return pick!(
                    self,
                    format!("the server refused it ({code})"),
                    format!("服务器拒绝了（{code}）")
                );
            }
            SendFailure::Other => pick!(self, "something went wrong", "出错了"),
        };
        text.to_owned()
    }

    pub fn no_dialog(&self) -> &'static str {
        pick!(
            self,
            "No file chosen; you can type a path instead.",
            "未选择文件；也可以直接输入路径。"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locale_picks_the_language() {
        assert_eq!(Lang::from_locale("zh-CN"), Lang::Chinese);
        assert_eq!(Lang::from_locale("zh_CN.UTF-8"), Lang::Chinese);
        assert_eq!(Lang::from_locale("en-US"), Lang::English);
        assert_eq!(Lang::from_locale(""), Lang::English);
        assert_eq!(Lang::Chinese.slint_translation(), Some("zh_CN"));
        assert_eq!(Texts::new(Lang::Chinese).everyone(3), "所有人（3 人在线）");
        let zh = Texts::new(Lang::Chinese);
        let too_long =
            crate::backend::SendFailure::Refused(quicq_common::protocol::ErrorCode::TextTooLong);
        assert_eq!(zh.not_sent(&zh.send_failure(&too_long)), "消息未发送：消息太长");
        assert_eq!(
            zh.send_failure(&crate::backend::SendFailure::Offline),
            "未连接",
            "no English in the Chinese notice"
        );
    }

    #[test]
    fn day_separators_say_today_yesterday_or_the_date_in_each_language() {
        let date = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let today = date(2026, 12, 3);
        let (en, zh) = (Texts::new(Lang::English), Texts::new(Lang::Chinese));
        // (day, English, Chinese)
        let cases = [
            (date(2026, 12, 3), "Today", "今天"),
            (date(2026, 12, 2), "Yesterday", "昨天"),
            (date(2026, 12, 1), "December 1", "12月1日"),
            (date(2026, 1, 31), "January 31", "1月31日"),
            (date(2025, 12, 31), "December 31, 2025", "2025年12月31日"),
        ];
        for (day, want_en, want_zh) in cases {
            assert_eq!(en.day(day, today), want_en);
            assert_eq!(zh.day(day, today), want_zh);
        }
        // Yesterday across a year's end.
        assert_eq!(en.day(date(2026, 12, 31), date(2027, 1, 1)), "Yesterday");
    }
}
