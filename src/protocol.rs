//! Wire protocol v1: every message that crosses the WebSocket, in one place.
//!
//! Text frames carry one JSON object with a `type` field. The seed client only ever sends
//! `input` and only reads `output`, so both keep their exact shape; everything else is
//! additive. Parsing is strict (unknown fields and types are rejected with a stable error
//! code) because every frame is untrusted.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Largest WebSocket frame a client may send. A paste larger than this must be split by the
/// client (the bundled page does); it is 16x a full 80x24 screen of 4-byte characters.
pub const MAX_CLIENT_FRAME_BYTES: usize = 64 * 1024;
/// Terminal sizes outside 1..=1000 are refused: no real screen is that large, and Docker
/// would pass absurd values straight to the kernel's TIOCSWINSZ.
pub const MAX_TTY_DIMENSION: u16 = 1000;

/// A message from the client, validated into typed values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// Keystrokes or pasted text for the shell.
    Input(String),
    /// New terminal size.
    Resize { cols: u16, rows: u16 },
    /// Flow control: stop sending output until `resume` (the xterm.js watermark scheme).
    Pause,
    /// Flow control: output may flow again.
    Resume,
}

/// The JSON shape of client messages, before validation.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum RawClientMessage {
    Input { data: String },
    Resize { cols: i64, rows: i64 },
    Pause {},
    Resume {},
}

/// Why a client frame was refused. Each maps onto a stable protocol error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("unknown message type '{0}'; expected input, resize, pause or resume")]
    UnknownType(String),
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    #[error("terminal size {cols}x{rows} is out of range (1..={max} each)")]
    InvalidSize { cols: i64, rows: i64, max: u16 },
}

impl FrameError {
    pub fn code(&self) -> ErrorCode {
        match self {
            FrameError::MalformedJson(_) => ErrorCode::BadMessage,
            FrameError::UnknownType(_) => ErrorCode::UnknownType,
            FrameError::InvalidMessage(_) => ErrorCode::BadMessage,
            FrameError::InvalidSize { .. } => ErrorCode::InvalidSize,
        }
    }
}

impl ClientMessage {
    /// Parses and validates one text frame.
    pub fn parse(text: &str) -> Result<ClientMessage, FrameError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| FrameError::MalformedJson(e.to_string()))?;
        let kind = match value.get("type") {
            Some(serde_json::Value::String(kind)) => kind.clone(),
            Some(_) => return Err(FrameError::InvalidMessage("'type' must be a string".into())),
            None => return Err(FrameError::InvalidMessage("missing 'type' field".into())),
        };
        if !matches!(kind.as_str(), "input" | "resize" | "pause" | "resume") {
            return Err(FrameError::UnknownType(truncate(&kind, 64)));
        }
        let raw: RawClientMessage =
            serde_json::from_value(value).map_err(|e| FrameError::InvalidMessage(e.to_string()))?;
        match raw {
            RawClientMessage::Input { data } => Ok(ClientMessage::Input(data)),
            RawClientMessage::Resize { cols, rows } => {
                let valid = |v: i64| (1..=i64::from(MAX_TTY_DIMENSION)).contains(&v);
                if valid(cols) && valid(rows) {
                    Ok(ClientMessage::Resize {
                        cols: cols as u16,
                        rows: rows as u16,
                    })
                } else {
                    Err(FrameError::InvalidSize {
                        cols,
                        rows,
                        max: MAX_TTY_DIMENSION,
                    })
                }
            }
            RawClientMessage::Pause {} => Ok(ClientMessage::Pause),
            RawClientMessage::Resume {} => Ok(ClientMessage::Resume),
        }
    }
}

/// A message from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerMessage<'a> {
    /// Sent once, first: who this session is and which container serves it.
    Session {
        id: Cow<'a, str>,
        container: Cow<'a, str>,
    },
    /// Terminal output; always valid UTF-8.
    Output { data: Cow<'a, str> },
    /// The shell ended; the server closes the socket next.
    Exit {
        code: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<ExitReason>,
    },
    /// Something went wrong or the session was ended; a stable code plus a sentence.
    Error {
        code: ErrorCode,
        message: Cow<'a, str>,
    },
}

impl ServerMessage<'_> {
    pub fn to_json(&self) -> String {
        // Serialising these enums cannot fail: every field is a string or an integer.
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"internal","message":"encoding failed"}"#.into()
        })
    }

    /// `ServerMessage::Output { data: text }.to_json()`, byte for byte, for the hot path:
    /// escaping terminal output with serde_json's byte-at-a-time loop cost more CPU than the
    /// rest of the output path together; this escapes with SIMD (json-escape-simd, sonic-rs'
    /// routine). The escaper needs room for the worst case (every byte escaped) while it
    /// works; the frame is shrunk to its length afterwards, so a queued frame holds no more
    /// memory than it counts against the outbound budget.
    pub fn output_json(text: &str) -> String {
        const HEAD: &str = r#"{"type":"output","data":"#;
        let mut frame = HEAD.as_bytes().to_vec();
        json_escape_simd::escape_into(text, &mut frame);
        frame.push(b'}');
        frame.shrink_to_fit();
        // SAFETY: an ASCII head, the JSON escape of a `&str` (valid UTF-8 in, valid UTF-8 out:
        // only ASCII bytes are replaced, as the crate's own `escape` relies on) and an ASCII
        // `}`. Checking it again would be a second pass over every output byte.
        unsafe { String::from_utf8_unchecked(frame) }
    }

    pub fn error(code: ErrorCode, message: impl Into<String>) -> ServerMessage<'static> {
        ServerMessage::Error {
            code,
            message: Cow::Owned(message.into()),
        }
    }
}

/// How the shell ended, when the server knows more than the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    /// The shell exited by itself (`exit`, end of input).
    Exited,
    /// The kernel's OOM killer ended the shell: the policy's memory limit was reached.
    OomKilled,
    /// Something outside sandterm killed the container (e.g. `docker kill`).
    Killed,
}

/// Stable, machine-readable error codes. Clients may switch on these; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame was not a valid message (malformed JSON, wrong field types).
    BadMessage,
    /// The frame's `type` is not one this server knows.
    UnknownType,
    /// A resize outside 1..=1000.
    InvalidSize,
    /// A binary frame; the protocol is JSON text frames.
    UnsupportedFrame,
    /// A frame above the size limit (the socket is closed with 1009).
    FrameTooLarge,
    /// Too many input frames too fast; the excess was dropped.
    RateLimited,
    /// The shell is not reading its input fast enough; the excess was dropped.
    InputOverflow,
    /// The server (or this client's address) has no room for another session.
    Capacity,
    /// The page's Origin is not allowed to open terminals here.
    ForbiddenOrigin,
    /// A connect token is required, or the one given is unknown, used or expired.
    Unauthorized,
    /// The sandbox image does not exist on the Docker host.
    ImageMissing,
    /// Docker could not be reached or failed.
    DockerUnavailable,
    /// The container could not be created or started.
    SandboxFailed,
    /// No input for longer than the idle timeout.
    IdleTimeout,
    /// The session reached its maximum lifetime.
    MaxLifetime,
    /// An operator ended the session.
    Terminated,
    /// The server is shutting down.
    Shutdown,
    /// The client stopped answering heartbeats.
    Timeout,
    /// A bug on our side; the log has the details.
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::InvalidSize => "invalid_size",
            ErrorCode::UnsupportedFrame => "unsupported_frame",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::InputOverflow => "input_overflow",
            ErrorCode::Capacity => "capacity",
            ErrorCode::ForbiddenOrigin => "forbidden_origin",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::ImageMissing => "image_missing",
            ErrorCode::DockerUnavailable => "docker_unavailable",
            ErrorCode::SandboxFailed => "sandbox_failed",
            ErrorCode::IdleTimeout => "idle_timeout",
            ErrorCode::MaxLifetime => "max_lifetime",
            ErrorCode::Terminated => "terminated",
            ErrorCode::Shutdown => "shutdown",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Internal => "internal",
        }
    }
}

/// WebSocket close codes used by the server (RFC 6455 section 7.4.1).
pub mod close_code {
    /// The session ended normally (shell exit, client close, operator, timeouts).
    pub const NORMAL: u16 = 1000;
    /// The server is going away (shutdown).
    pub const GOING_AWAY: u16 = 1001;
    /// The peer broke the WebSocket protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// Policy violation: forbidden origin, missing or bad token.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A frame above the size limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The server failed (Docker trouble, internal error).
    pub const INTERNAL_ERROR: u16 = 1011;
    /// Capacity or rate limits: try again later.
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Turns a byte stream into valid UTF-8 text without ever splitting a character.
///
/// Docker hands over TTY output in arbitrary chunks, so a multi-byte character can straddle
/// two chunks: its leading bytes are held back until the rest arrives. Bytes that can never
/// become valid UTF-8 (the container may print anything) are replaced with U+FFFD.
#[derive(Debug, Default)]
pub struct Utf8Decoder {
    pending: Vec<u8>,
}

impl Utf8Decoder {
    /// Decodes `input`, holding back an incomplete trailing character for the next call.
    pub fn decode(&mut self, input: &[u8]) -> String {
        let joined;
        let bytes: &[u8] = if self.pending.is_empty() {
            input
        } else {
            let mut buf = std::mem::take(&mut self.pending);
            buf.extend_from_slice(input);
            joined = buf;
            &joined
        };
        // str::from_utf8 checks whole words at a time; walking the input char by char (as
        // Utf8Chunks does) cost more CPU than anything else on the output path.
        let mut out = String::with_capacity(bytes.len());
        let mut rest = bytes;
        while !rest.is_empty() {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    out.push_str(text);
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    // SAFETY: `valid_up_to` is the length of the longest valid prefix; checking
                    // it again would validate every byte before a split character twice.
                    out.push_str(unsafe { std::str::from_utf8_unchecked(valid) });
                    match e.error_len() {
                        // A character cut short at the end: wait for the rest of it.
                        None => {
                            self.pending.extend_from_slice(after);
                            break;
                        }
                        Some(len) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[len..];
                        }
                    }
                }
            }
        }
        out
    }

    /// Flushes whatever is held back (at end of stream): it can no longer complete.
    pub fn finish(&mut self) -> String {
        if self.pending.is_empty() {
            String::new()
        } else {
            self.pending.clear();
            char::REPLACEMENT_CHARACTER.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_client_input_parses() {
        let msg = ClientMessage::parse(r#"{"type":"input","data":"ls\r"}"#).unwrap();
        assert_eq!(msg, ClientMessage::Input("ls\r".into()));
    }

    #[test]
    fn resize_within_bounds_parses() {
        let msg = ClientMessage::parse(r#"{"type":"resize","cols":120,"rows":40}"#).unwrap();
        assert_eq!(
            msg,
            ClientMessage::Resize {
                cols: 120,
                rows: 40
            }
        );
    }

    #[test]
    fn absurd_resize_is_refused_with_invalid_size() {
        for text in [
            r#"{"type":"resize","cols":0,"rows":40}"#,
            r#"{"type":"resize","cols":1001,"rows":40}"#,
            r#"{"type":"resize","cols":-5,"rows":40}"#,
            r#"{"type":"resize","cols":80,"rows":99999999999}"#,
        ] {
            let err = ClientMessage::parse(text).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidSize, "{text}");
        }
    }

    #[test]
    fn resize_with_wrong_types_is_bad_message() {
        let err = ClientMessage::parse(r#"{"type":"resize","cols":"80","rows":24}"#).unwrap_err();
        assert_eq!(err.code(), ErrorCode::BadMessage);
        let err = ClientMessage::parse(r#"{"type":"resize","cols":80.5,"rows":24}"#).unwrap_err();
        assert_eq!(err.code(), ErrorCode::BadMessage);
    }

    #[test]
    fn malformed_and_unknown_frames_get_stable_codes() {
        assert_eq!(
            ClientMessage::parse("{not json").unwrap_err().code(),
            ErrorCode::BadMessage
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"reboot"}"#)
                .unwrap_err()
                .code(),
            ErrorCode::UnknownType
        );
        assert_eq!(
            ClientMessage::parse(r#"{"data":"x"}"#).unwrap_err().code(),
            ErrorCode::BadMessage
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":7}"#).unwrap_err().code(),
            ErrorCode::BadMessage
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"input","data":5}"#)
                .unwrap_err()
                .code(),
            ErrorCode::BadMessage
        );
        assert_eq!(
            ClientMessage::parse(r#"[1,2]"#).unwrap_err().code(),
            ErrorCode::BadMessage
        );
    }

    #[test]
    fn unknown_type_is_truncated_in_the_error() {
        let long = "x".repeat(10_000);
        let err = ClientMessage::parse(&format!(r#"{{"type":"{long}"}}"#)).unwrap_err();
        assert!(err.to_string().len() < 200);
    }

    #[test]
    fn server_messages_have_the_documented_shape() {
        let out = ServerMessage::Output { data: "hi".into() }.to_json();
        assert_eq!(out, r#"{"type":"output","data":"hi"}"#);
        let exit = ServerMessage::Exit {
            code: 0,
            reason: None,
        }
        .to_json();
        assert_eq!(exit, r#"{"type":"exit","code":0}"#);
        let err = ServerMessage::error(ErrorCode::Capacity, "full").to_json();
        assert_eq!(
            err,
            r#"{"type":"error","code":"capacity","message":"full"}"#
        );
    }

    #[test]
    fn error_code_strings_match_serde() {
        for code in [
            ErrorCode::BadMessage,
            ErrorCode::DockerUnavailable,
            ErrorCode::Capacity,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn utf8_split_across_chunks_is_held_back_not_replaced() {
        let text = "héllo → 世界 🎉";
        let bytes = text.as_bytes();
        for split in 0..=bytes.len() {
            let mut dec = Utf8Decoder::default();
            let mut out = dec.decode(&bytes[..split]);
            out.push_str(&dec.decode(&bytes[split..]));
            assert_eq!(out, text, "split at {split}");
        }
    }

    #[test]
    fn utf8_split_byte_by_byte_is_intact() {
        let text = "🎉日本語ünïcödé";
        let mut dec = Utf8Decoder::default();
        let out: String = text.as_bytes().iter().map(|b| dec.decode(&[*b])).collect();
        assert_eq!(out, text);
    }

    /// A small deterministic generator, so the tests need no random-number crate.
    fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn utf8_decoding_in_two_pieces_equals_lossy_decoding_of_the_whole() {
        // Mostly ASCII and control bytes, with multi-byte characters and invalid bytes.
        let mut samples = vec![
            "plain ascii\r\n".as_bytes().to_vec(),
            "\x1b[32mgrün\x1b[0m → 世界 🎉".as_bytes().to_vec(),
            b"\xff\xfe\xc3\x28\xe2\x82\xf0\x9f\x8e".to_vec(),
        ];
        for seed in 0..40 {
            samples.push(pseudo_random_bytes(seed, 64));
        }
        for bytes in &samples {
            let want = String::from_utf8_lossy(bytes);
            for split in 0..=bytes.len() {
                let mut dec = Utf8Decoder::default();
                let mut got = dec.decode(&bytes[..split]);
                got.push_str(&dec.decode(&bytes[split..]));
                got.push_str(&dec.finish());
                assert_eq!(got, want, "{bytes:?} split at {split}");
            }
        }
    }

    #[test]
    fn output_json_is_byte_for_byte_what_serde_writes() {
        let mut texts: Vec<String> = (0u32..0x300)
            .filter_map(char::from_u32)
            .map(|c| format!("a{c}b"))
            .collect();
        texts.push(String::new());
        texts.push("\"\\/\u{7f}\u{2028}\u{2029}\u{fffd}🎉".into());
        texts.push("x".repeat(100_000));
        texts.push("\x1b[1;31m\"quoted\"\r\n".repeat(3_000));
        for seed in 0..200 {
            let bytes = pseudo_random_bytes(seed, 1 + seed as usize * 7);
            texts.push(String::from_utf8_lossy(&bytes).into_owned());
        }
        for text in &texts {
            let want = ServerMessage::Output {
                data: text.as_str().into(),
            }
            .to_json();
            let got = ServerMessage::output_json(text);
            assert_eq!(got, want);
            assert!(
                got.capacity() <= got.len() + 64,
                "frame keeps its scratch room"
            );
        }
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut dec = Utf8Decoder::default();
        assert_eq!(dec.decode(b"a\xffb"), "a\u{FFFD}b");
        assert_eq!(dec.decode(b"\xc3\x28"), "\u{FFFD}(");
        // A truncated sequence at the end stays pending until finish().
        assert_eq!(dec.decode(b"x\xe2\x82"), "x");
        assert_eq!(dec.finish(), "\u{FFFD}");
        assert_eq!(dec.finish(), "");
    }
}
