//! Texts of the bubble menu, the composer's reply and edit modes, read receipts and typing.

use crate::backend::Change;

use super::{Lang, Texts};

impl Texts {
    /// The composer's line above the box while replying.
    pub fn replying_to(&self, name: &str, snippet: &str) -> String {
        pick!(self, format!("Replying to {name}: {snippet}"), format!("回复 {name}：{snippet}"))
    }

    /// The composer's line above the box while editing.
    pub fn editing(&self) -> &'static str {
        pick!(self, "Editing your message (Esc cancels)", "正在编辑消息（按 Esc 取消）")
    }

    /// `secs` as the largest whole unit: `2 minutes`, `24 hours`, `45 seconds`.
    fn window(&self, secs: u64) -> String {
        let (n, en, zh) = if secs >= 3600 && secs.is_multiple_of(3600) {
            (secs / 3600, "hour", "小时")
        } else if secs >= 60 && secs.is_multiple_of(60) {
            (secs / 60, "minute", "分钟")
        } else {
            (secs, "second", "秒")
        };
        let plural = if n == 1 { "" } else { "s" };
        pick!(self, format!("{n} {en}{plural}"), format!("{n} {zh}"))
    }

    pub fn too_late_to_edit(&self, window_secs: u64) -> String {
        let window = self.window(window_secs);
        pick!(
            self,
            format!("Too late to edit: a message can be edited for {window} after it is sent."),
            format!("无法编辑：消息只能在发送后 {window}内编辑。")
        )
    }

    pub fn too_late_to_recall(&self, window_secs: u64) -> String {
        let window = self.window(window_secs);
        pick!(
            self,
            format!("Too late to recall: a message can be recalled for {window} after it is sent."),
            format!("无法撤回：消息只能在发送后 {window}内撤回。")
        )
    }

    /// An edit, recall or reaction the server did not store, and why (already in words).
    pub fn change_failed(&self, change: Change, why: &str) -> String {
        match change {
            Change::Edit => pick!(self, format!("Not edited: {why}"), format!("未编辑：{why}")),
            Change::Recall => pick!(self, format!("Not recalled: {why}"), format!("未撤回：{why}")),
            Change::React => {
                pick!(self, format!("Reaction not sent: {why}"), format!("表情回应未发送：{why}"))
            }
        }
    }

    /// The line under the conversation while others type.
    pub fn typing(&self, names: &[&str]) -> String {
        match names {
            [] => String::new(),
            [one] => pick!(self, format!("{one} is typing…"), format!("{one} 正在输入…")),
            [one, two] => pick!(
                self,
                format!("{one} and {two} are typing…"),
                format!("{one} 和 {two} 正在输入…")
            ),
            more => {
                let n = more.len();
                pick!(self, format!("{n} people are typing…"), format!("{n} 人正在输入…"))
            }
        }
    }

    pub fn link_not_opened(&self) -> &'static str {
        pick!(
            self,
            "The link could not be opened: no web browser was found.",
            "无法打开链接：找不到网页浏览器。"
        )
    }

    pub fn saved_as(&self, path: &str) -> String {
        pick!(self, format!("Saved a copy as {path}"), format!("已另存为 {path}"))
    }

    pub fn not_saved(&self, why: &crate::problem::Problem) -> String {
        let why = self.problem(why);
        pick!(self, format!("File not saved: {why}"), format!("文件未保存：{why}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::SendFailure;
    use quicq_common::protocol::ErrorCode;

    #[test]
    fn message_life_in_both_languages() {
        let en = Texts::english();
        let zh = Texts::new(Lang::Chinese);
        let too_late = SendFailure::Refused(ErrorCode::TooLate);
        let cases = [
            (
                en.too_late_to_recall(120),
                "Too late to recall: a message can be recalled for 2 minutes after it is sent.",
            ),
            (zh.too_late_to_recall(120), "无法撤回：消息只能在发送后 2 分钟内撤回。"),
            (
                en.too_late_to_edit(86_400),
                "Too late to edit: a message can be edited for 24 hours after it is sent.",
            ),
            (
                en.too_late_to_edit(1),
                "Too late to edit: a message can be edited for 1 second after it is sent.",
            ),
            (zh.too_late_to_edit(90), "无法编辑：消息只能在发送后 90 秒内编辑。"),
            (
                en.change_failed(Change::Edit, &en.send_failure(&too_late)),
                "Not edited: the time allowed for that has passed",
            ),
            (
                zh.change_failed(Change::Recall, &zh.send_failure(&too_late)),
                "未撤回：已超过允许的时间",
            ),
            (en.typing(&["bob"]), "bob is typing…"),
            (zh.typing(&["bob", "carol"]), "bob 和 carol 正在输入…"),
            (en.typing(&["a", "b", "c"]), "3 people are typing…"),
            (en.typing(&[]), ""),
            (zh.replying_to("bob", "hi…"), "回复 bob：hi…"),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }
}
