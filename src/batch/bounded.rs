//! Bounds on what a results file may put into a run: a suite's command writes the file, so it
//! is untrusted input, and nothing read from it may grow without limit. A long text is kept as
//! its head and its tail with a line naming the cap where it was cut ([`Clipped`]); a JUnit
//! document is read through [`Clip`], which cuts every long text, attribute value and CDATA
//! section the same way before the XML reader buffers it; a results file as a whole keeps at
//! most [`Limits::file_text`] bytes of texts and [`Limits::cases`] testcases ([`Budget`]).
//! Every pass here is linear in the bytes read.

use std::io::Read;

use crate::record::{ceil_char, floor_char};

/// The caps, in one place (docs/reliability.md states them).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Kept from the start of a long text.
    pub head: usize,
    /// Kept from its end (a traceback's last lines say what failed).
    pub tail: usize,
    /// All texts and messages of one results file together.
    pub file_text: usize,
    /// Testcases kept from one results file.
    pub cases: usize,
    /// What those testcases hold besides texts and messages (names, classnames, files), with
    /// what a testcase costs in memory.
    pub case_bytes: usize,
    /// Bytes read from one results file.
    pub file_bytes: u64,
    /// A line of `go test -json` output (an event).
    pub line: usize,
    /// An XML tag (its name and attributes, values cut as texts are) or declaration.
    pub tag: usize,
}

pub(crate) const LIMITS: Limits = Limits {
    head: 16 * 1024,
    tail: 48 * 1024,
    file_text: 8 * 1024 * 1024,
    cases: 100_000,
    case_bytes: 64 * 1024 * 1024,
    file_bytes: 1024 * 1024 * 1024,
    line: 1024 * 1024,
    tag: 1024 * 1024,
};

impl Limits {
    /// What a text keeps at most (head and tail).
    pub(crate) fn text(&self) -> usize {
        self.head + self.tail
    }
}

/// The line put where a text was cut. No quote, `<`, `&` or `]]>`: it may stand inside an XML
/// attribute value or CDATA section.
pub(crate) fn cut_marker(cut: u64, limits: &Limits) -> String {
    format!(
        "\n[ptest: {cut} bytes cut here: a text is kept up to {}, its first {} and last {}]\n",
        size(limits.text() as u64),
        size(limits.head as u64),
        size(limits.tail as u64)
    )
}

/// `64 KiB`, `8 MiB`, `12 bytes`.
pub(crate) fn size(n: u64) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// A text built piece by piece that keeps its first `head` and last `tail` bytes (on character
/// boundaries) and counts what it leaves out.
#[derive(Debug)]
pub(crate) struct Clipped {
    head: String,
    /// The text after the head, of which only the last `tail` bytes are kept (it may hold up
    /// to twice that between trims, so that trimming stays linear).
    tail: String,
    cut: u64,
    limits: Limits,
}

impl Clipped {
    pub(crate) fn new(limits: Limits) -> Clipped {
        Clipped {
            head: String::new(),
            tail: String::new(),
            cut: 0,
            limits,
        }
    }

    pub(crate) fn push(&mut self, mut s: &str) {
        if self.tail.is_empty() && self.cut == 0 && self.head.len() < self.limits.head {
            let room = self.limits.head - self.head.len();
            let take = if s.len() <= room {
                s.len()
            } else {
                floor_char(s, room)
            };
            self.head.push_str(&s[..take]);
            s = &s[take..];
            if s.is_empty() {
                return;
            }
        }
        // Only the last `tail` bytes of a long piece can survive.
        if s.len() > self.limits.tail {
            let from = ceil_char(s, s.len() - self.limits.tail);
            self.cut += (self.tail.len() + from) as u64;
            self.tail.clear();
            s = &s[from..];
        }
        self.tail.push_str(s);
        if self.tail.len() > 2 * self.limits.tail {
            self.trim();
        }
    }

    fn trim(&mut self) {
        if self.tail.len() > self.limits.tail {
            let from = ceil_char(&self.tail, self.tail.len() - self.limits.tail);
            self.tail.drain(..from);
            self.cut += from as u64;
        }
    }

    /// `n` bytes of the text that are not pushed (the text goes on after them).
    pub(crate) fn skip(&mut self, n: u64) {
        if n > 0 {
            self.cut += self.tail.len() as u64 + n;
            self.tail.clear();
        }
    }

    /// Bytes held now.
    pub(crate) fn held(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    /// Bytes pushed so far.
    pub(crate) fn len(&self) -> u64 {
        self.head.len() as u64 + self.tail.len() as u64 + self.cut
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn finish(mut self) -> String {
        self.trim();
        if self.cut == 0 {
            self.head.push_str(&self.tail);
            return self.head;
        }
        let mut out = self.head;
        out.push_str(&cut_marker(self.cut, &self.limits));
        out.push_str(&self.tail);
        out
    }
}

/// What one results file may still keep.
#[derive(Debug)]
pub(crate) struct Budget {
    limits: Limits,
    text_left: usize,
    cases_left: usize,
    bytes_left: usize,
    /// Testcases not kept because the cap was reached.
    pub dropped_cases: u64,
    /// The file was longer than `file_bytes` and read only that far.
    pub truncated: bool,
}

impl Budget {
    pub(crate) fn new(limits: Limits) -> Budget {
        Budget {
            limits,
            text_left: limits.file_text,
            cases_left: limits.cases,
            bytes_left: limits.case_bytes,
            dropped_cases: 0,
            truncated: false,
        }
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether one more testcase may be kept (counting it when it may).
    pub(crate) fn take_case(&mut self, c: &super::case::TestCase) -> bool {
        let strings = [&c.classname, &c.file, &c.kind, &c.suite, &c.suite_file];
        let bytes = std::mem::size_of_val(c)
            + c.name.len()
            + strings
                .iter()
                .map(|s| s.as_ref().map_or(0, String::len))
                .sum::<usize>();
        if self.cases_left == 0 || bytes > self.bytes_left {
            self.cases_left = 0;
            self.left_out();
            return false;
        }
        self.cases_left -= 1;
        self.bytes_left -= bytes;
        true
    }

    /// A testcase the file reported and that is not kept.
    pub(crate) fn left_out(&mut self) {
        self.dropped_cases += 1;
    }

    /// A text or message as the file's budget keeps it: whole while the budget lasts, then a
    /// line saying it was not kept.
    pub(crate) fn text(&mut self, text: String) -> String {
        if text.len() <= self.text_left {
            self.text_left -= text.len();
            return text;
        }
        self.text_left = 0;
        format!(
            "[ptest: {} bytes not kept: a results file keeps up to {} of texts]",
            text.len(),
            size(self.limits.file_text as u64)
        )
    }

    /// What the caller should warn about, if anything was left out of the file as a whole.
    pub(crate) fn warning(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.truncated {
            parts.push(format!(
                "read only its first {} (the cap per results file)",
                size(self.limits.file_bytes)
            ));
        }
        if self.dropped_cases > 0 {
            parts.push(format!(
                "left out its last {} testcases (a results file keeps up to {} testcases and {} of names)",
                self.dropped_cases,
                self.limits.cases,
                size(self.limits.case_bytes as u64)
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// A reader that ends after `cap` bytes, and says (through `truncated`) whether there was more.
pub(crate) struct Capped<R> {
    inner: R,
    left: u64,
    pub truncated: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<R: Read> Capped<R> {
    pub(crate) fn new(inner: R, cap: u64) -> Capped<R> {
        Capped {
            inner,
            left: cap,
            truncated: std::rc::Rc::default(),
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            if !self.truncated.get() {
                let mut one = [0u8; 1];
                let more = loop {
                    match self.inner.read(&mut one) {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        r => break r?,
                    }
                };
                self.truncated.set(more > 0);
            }
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// The next line (without its newline) into `line`, at most `cap` bytes of it (the rest of a
/// longer line is read and dropped); false at the end of the input.
pub(crate) fn read_line(
    input: &mut impl std::io::BufRead,
    line: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<bool> {
    line.clear();
    let mut any = false;
    loop {
        let buf = match input.fill_buf() {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => r?,
        };
        if buf.is_empty() {
            return Ok(any);
        }
        any = true;
        let (part, used, done) = match memchr::memchr(b'\n', buf) {
            Some(at) => (&buf[..at], at + 1, true),
            None => (buf, buf.len(), false),
        };
        let room = cap.saturating_sub(line.len());
        line.extend_from_slice(&part[..part.len().min(room)]);
        input.consume(used);
        if done {
            return Ok(true);
        }
    }
}

/// The last `size` bytes pushed.
struct Ring {
    buf: Vec<u8>,
    size: usize,
    /// Where the next byte goes once `buf` is full.
    at: usize,
}

impl Ring {
    fn new(size: usize) -> Ring {
        Ring {
            buf: Vec::new(),
            size,
            at: 0,
        }
    }

    fn push(&mut self, b: u8) {
        if self.buf.len() < self.size {
            self.buf.push(b);
        } else {
            self.buf[self.at] = b;
            self.at = (self.at + 1) % self.size;
        }
    }

    /// Its bytes in order; it is empty after.
    fn take(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        out.rotate_left(self.at);
        self.at = 0;
        out
    }
}

/// Where [`Clip`] is in the XML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Character data between tags.
    Text,
    /// Just after `<`: what kind of markup this is is not known yet.
    Open,
    /// Inside a start or end tag, outside quotes.
    Tag,
    /// Inside an attribute value quoted with this byte.
    Value(u8),
    /// Inside `<!--`, `<![CDATA[`, `<?` or another `<!` declaration (the usize: `[` depth).
    Comment,
    CData,
    Pi,
    Decl(usize),
}

/// A reader of XML that cuts every long text, attribute value, CDATA section and comment to its
/// head and tail (with [`cut_marker`] between them), so that nothing downstream buffers more
/// than the limits: a 500 MB failure text passes as 64 KiB. Cuts fall on UTF-8 character
/// boundaries and never inside an entity reference. A tag or declaration longer than
/// `Limits::tag` is an error (no writer of test results makes one).
pub(crate) struct Clip<R> {
    inner: R,
    limits: Limits,
    state: State,
    /// Bytes of markup that open the current construct, before its kind is known (`<![CDATA`).
    opening: Vec<u8>,
    /// The current run (text, value, CDATA or comment content).
    run_len: u64,
    /// Bytes of the run passed on as its head.
    head_len: usize,
    /// Bytes since an unfinished `&` reference in the head.
    in_ref: Option<usize>,
    /// The head was closed (and the run goes on into `ring`).
    head_done: bool,
    /// The last `tail` bytes of the run after its head.
    ring: Ring,
    /// Held-back `]`, `-` or `?` that may begin the run's terminator.
    held: usize,
    /// Bytes of the current tag.
    tag_len: usize,
    out: Vec<u8>,
    out_at: usize,
    inbuf: Vec<u8>,
    eof: bool,
}

impl<R: Read> Clip<R> {
    pub(crate) fn new(inner: R, limits: Limits) -> Clip<R> {
        Clip {
            inner,
            limits,
            state: State::Text,
            opening: Vec::new(),
            run_len: 0,
            head_len: 0,
            in_ref: None,
            head_done: false,
            ring: Ring::new(limits.tail),
            held: 0,
            tag_len: 0,
            out: Vec::new(),
            out_at: 0,
            inbuf: vec![0; 64 * 1024],
            eof: false,
        }
    }

    /// One byte of a run's content.
    fn content(&mut self, b: u8) {
        self.run_len += 1;
        if !self.head_done {
            // Past the head's size, a character or a reference the head began is finished
            // before the head closes.
            let within = self.head_len < self.limits.head;
            let mid_char = (0x80..0xC0).contains(&b);
            let mid_ref = self.in_ref.is_some_and(|n| n < 32) && b != b'&';
            if within || mid_char || mid_ref {
                self.out.push(b);
                self.head_len += 1;
                self.track_ref(b);
                return;
            }
            self.head_done = true;
        }
        self.ring.push(b);
    }

    fn track_ref(&mut self, b: u8) {
        self.in_ref = match (b, self.in_ref) {
            (b'&', _) => Some(0),
            (b';' | b'<' | b'>' | b'"' | b'\'' | b' ' | b'\n' | b'\t' | b'\r', _) | (_, None) => {
                None
            }
            (_, Some(n)) => Some(n + 1),
        };
    }

    /// The run ended: pass on its kept tail, after a marker when something was cut.
    fn end_run(&mut self) {
        if self.head_done {
            let ring = self.ring.take();
            // The tail begins on a character and outside a reference.
            let mut skip = ring
                .iter()
                .take_while(|b| (0x80..0xC0).contains(*b))
                .count();
            let window = &ring[skip..ring.len().min(skip + 32)];
            if let Some(semi) = window.iter().position(|&b| b == b';')
                && window[..semi]
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'#')
            {
                skip += semi + 1;
            }
            if self.run_len == (self.head_len + ring.len()) as u64 {
                // The head only ran over to finish a character or a reference: nothing lost.
                self.out.extend_from_slice(&ring);
            } else {
                let cut = self.run_len - self.head_len as u64 - (ring.len() - skip) as u64;
                self.out
                    .extend_from_slice(cut_marker(cut, &self.limits).as_bytes());
                self.out.extend_from_slice(&ring[skip..]);
            }
        }
        self.run_len = 0;
        self.head_len = 0;
        self.in_ref = None;
        self.head_done = false;
    }

    fn tag_byte(&mut self, b: u8) -> std::io::Result<()> {
        self.tag_len += 1;
        if self.tag_len > self.limits.tag {
            return Err(self.too_long());
        }
        self.out.push(b);
        Ok(())
    }

    fn too_long(&self) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "a tag or declaration longer than {}",
                size(self.limits.tag as u64)
            ),
        )
    }

    /// Content of a run that ends with a terminator of `close` bytes (`]]>`, `-->`, `?>`):
    /// the bytes that may begin it are held back until it is known whether they do.
    fn terminated(&mut self, b: u8, repeat: u8, need: usize) -> bool {
        if b == repeat {
            if self.held < need {
                self.held += 1;
            } else {
                self.content(b);
            }
            return false;
        }
        if b == b'>' && self.held == need {
            self.held = 0;
            self.end_run();
            for _ in 0..need {
                self.out.push(repeat);
            }
            self.out.push(b'>');
            return true;
        }
        for _ in 0..self.held {
            self.content(repeat);
        }
        self.held = 0;
        self.content(b);
        false
    }

    fn byte(&mut self, b: u8) -> std::io::Result<()> {
        match self.state {
            State::Text => {
                if b == b'<' {
                    self.end_run();
                    self.opening.clear();
                    self.opening.push(b);
                    self.tag_len = 1;
                    self.state = State::Open;
                } else {
                    self.content(b);
                }
            }
            State::Open => {
                self.opening.push(b);
                let o = self.opening.as_slice();
                let known = |full: &[u8]| full.starts_with(o) && o.len() < full.len();
                if o == b"<!--" {
                    self.out.extend_from_slice(o);
                    self.opening.clear();
                    self.state = State::Comment;
                } else if o == b"<![CDATA[" {
                    self.out.extend_from_slice(o);
                    self.opening.clear();
                    self.state = State::CData;
                } else if o == b"<?" {
                    self.out.extend_from_slice(o);
                    self.opening.clear();
                    self.state = State::Pi;
                } else if known(b"<!--") || known(b"<![CDATA[") {
                    // Not decided yet.
                } else if o.starts_with(b"<!") {
                    let opening = std::mem::take(&mut self.opening);
                    self.state = State::Decl(0);
                    self.tag_len = 0;
                    for &c in &opening {
                        self.decl_byte(c)?;
                    }
                } else {
                    let opening = std::mem::take(&mut self.opening);
                    self.state = State::Tag;
                    self.tag_len = 0;
                    for &c in &opening {
                        self.byte_in_tag(c)?;
                    }
                }
            }
            State::Tag => self.byte_in_tag(b)?,
            State::Value(q) => {
                // What a tag's values pass on (cut as they are) counts toward the tag's size: the
                // XML reader holds a whole tag at once.
                let before = self.out.len();
                if b == q {
                    self.end_run();
                    self.state = State::Tag;
                } else {
                    self.content(b);
                }
                let passed = self.out.len() - before;
                self.tag_len = self.tag_len.saturating_add(passed);
                if b == q {
                    self.tag_byte(b)?;
                } else if self.tag_len > self.limits.tag {
                    return Err(self.too_long());
                }
            }
            State::Comment => {
                if self.terminated(b, b'-', 2) {
                    self.state = State::Text;
                }
            }
            State::CData => {
                if self.terminated(b, b']', 2) {
                    self.state = State::Text;
                }
            }
            State::Pi => {
                if self.terminated(b, b'?', 1) {
                    self.state = State::Text;
                }
            }
            State::Decl(_) => self.decl_byte(b)?,
        }
        Ok(())
    }

    fn byte_in_tag(&mut self, b: u8) -> std::io::Result<()> {
        self.tag_byte(b)?;
        match b {
            b'"' | b'\'' => {
                self.state = State::Value(b);
            }
            b'>' => self.state = State::Text,
            _ => {}
        }
        Ok(())
    }

    fn decl_byte(&mut self, b: u8) -> std::io::Result<()> {
        let State::Decl(depth) = self.state else {
            return Ok(());
        };
        self.tag_byte(b)?;
        self.state = match b {
            b'[' => State::Decl(depth + 1),
            b']' => State::Decl(depth.saturating_sub(1)),
            b'>' if depth == 0 => State::Text,
            _ => State::Decl(depth),
        };
        Ok(())
    }
}

impl<R: Read> Read for Clip<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.out_at == self.out.len() {
            self.out.clear();
            self.out_at = 0;
            if self.eof {
                return Ok(0);
            }
            let n = loop {
                match self.inner.read(&mut self.inbuf) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    r => break r?,
                }
            };
            if n == 0 {
                self.eof = true;
                // What was held back at the end is content after all.
                let held = std::mem::take(&mut self.held);
                let repeat = match self.state {
                    State::Comment => b'-',
                    State::CData => b']',
                    _ => b'?',
                };
                for _ in 0..held {
                    self.content(repeat);
                }
                if !matches!(self.state, State::Tag | State::Open | State::Decl(_)) {
                    self.end_run();
                }
                let opening = std::mem::take(&mut self.opening);
                self.out.extend_from_slice(&opening);
                continue;
            }
            let input = std::mem::take(&mut self.inbuf);
            for &b in &input[..n] {
                self.byte(b)?;
            }
            self.inbuf = input;
        }
        let n = buf.len().min(self.out.len() - self.out_at);
        buf[..n].copy_from_slice(&self.out[self.out_at..self.out_at + n]);
        self.out_at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Limits = Limits {
        head: 8,
        tail: 8,
        file_text: 40,
        cases: 2,
        case_bytes: 1 << 20,
        file_bytes: 1 << 20,
        line: 64,
        tag: 1024,
    };

    fn clip_with(xml: &str, limits: Limits) -> Result<String, String> {
        let mut out = String::new();
        Clip::new(xml.as_bytes(), limits)
            .read_to_string(&mut out)
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    fn clip(xml: &str) -> Result<String, String> {
        clip_with(xml, SMALL)
    }

    fn marker(cut: u64) -> String {
        cut_marker(cut, &SMALL)
    }

    #[test]
    fn a_clipped_text_keeps_its_head_and_tail_and_says_how_much_it_cut() {
        let mut c = Clipped::new(SMALL);
        c.push("0123");
        c.push("4567");
        assert_eq!(c.len(), 8);
        let whole = Clipped::new(SMALL);
        assert!(whole.is_empty());
        assert_eq!(whole.finish(), "");
        let mut c = Clipped::new(SMALL);
        c.push("01234567abcdefghijklmnopqrstuvwxyz");
        assert_eq!(c.finish(), format!("01234567{}stuvwxyz", marker(18)));
        // Piece by piece the same.
        let mut c = Clipped::new(SMALL);
        for ch in "01234567abcdefghijklmnopqrstuvwxyz".chars() {
            c.push(&ch.to_string());
        }
        assert_eq!(c.len(), 34);
        assert_eq!(c.finish(), format!("01234567{}stuvwxyz", marker(18)));
        // Exactly head and tail: nothing cut.
        let mut c = Clipped::new(SMALL);
        c.push("0123456789abcdef");
        assert_eq!(c.finish(), "0123456789abcdef");
    }

    #[test]
    fn a_clipped_text_cuts_between_characters() {
        let mut c = Clipped::new(SMALL);
        // é is two bytes: the head keeps 7 bytes rather than half a character.
        c.push("abcdefgé");
        c.push(&"x".repeat(20));
        c.push("éééé");
        let out = c.finish();
        assert!(out.starts_with("abcdefg\n[ptest: "), "{out}");
        assert!(out.ends_with("\néééé"), "{out}");
    }

    #[test]
    fn clip_passes_small_documents_unchanged() {
        let xml = "<?xml v=\"1\"?>\n<!DOCTYPE x [<!ENTITY a \"b\">]><t><!-- c --><testcase name=\"a &amp; b\" x='1'><failure><![CDATA[x]y]]z]]></failure></testcase></t>";
        assert_eq!(clip(xml).unwrap(), xml);
    }

    #[test]
    fn clip_cuts_long_texts_values_and_cdata() {
        let long = "0123456789abcdefghijklmnopqrstuvwxyz";
        let cut = format!("01234567{}stuvwxyz", marker(20));
        assert_eq!(
            clip(&format!("<a>{long}</a>")).unwrap(),
            format!("<a>{cut}</a>")
        );
        assert_eq!(
            clip(&format!("<a b=\"{long}\" c='{long}'/>")).unwrap(),
            format!("<a b=\"{cut}\" c='{cut}'/>")
        );
        assert_eq!(
            clip(&format!("<a><![CDATA[{long}]]></a>")).unwrap(),
            format!("<a><![CDATA[{cut}]]></a>")
        );
        // `]` and `]]` inside CDATA are content.
        assert_eq!(
            clip("<a><![CDATA[]]]]]>x</a>").unwrap(),
            "<a><![CDATA[]]]]]>x</a>"
        );
        // A `]` at the cut stays content.
        assert_eq!(
            clip(&format!("<a><![CDATA[{long}]]]></a>")).unwrap(),
            format!("<a><![CDATA[01234567{}tuvwxyz]]]></a>", marker(21))
        );
    }

    #[test]
    fn clip_never_cuts_inside_a_reference_or_a_character() {
        // The head's end falls inside `&amp;`: the reference is kept whole.
        let out = clip(&format!("<a>012345&amp;{}tail5678</a>", "x".repeat(30))).unwrap();
        assert!(out.starts_with("<a>012345&amp;\n[ptest: "), "{out}");
        // The tail's start falls inside one: what is left of it is dropped.
        let out = clip(&format!("<a>01234567{}&amp;abcd</a>", "x".repeat(30))).unwrap();
        assert!(out.ends_with("\nabcd</a>"), "{out}");
        let out = clip(&format!("<a>0123456é{}éééé</a>", "x".repeat(30))).unwrap();
        assert!(out.starts_with("<a>0123456é\n"), "{out}");
        assert!(
            out.ends_with("\néééé</a>") || out.ends_with("\néééé</a>"),
            "{out}"
        );
        // Whatever the cut, the result reads as XML.
        for n in 0..40 {
            let doc = format!(
                "<a b=\"{}&lt;é&#233;{}\">{}&amp;é{}</a>",
                "y".repeat(n),
                "z".repeat(40 - n),
                "é".repeat(n),
                "&gt;".repeat(n)
            );
            let out = clip(&doc).unwrap();
            let mut r = quick_xml::Reader::from_str(&out);
            loop {
                match r.read_event() {
                    Ok(quick_xml::events::Event::Eof) => break,
                    Ok(quick_xml::events::Event::Start(e)) => {
                        for a in e.attributes() {
                            a.unwrap()
                                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .unwrap();
                        }
                    }
                    Ok(quick_xml::events::Event::Text(t)) => {
                        t.xml10_content().unwrap();
                    }
                    Ok(quick_xml::events::Event::GeneralRef(r)) => {
                        let name = String::from_utf8(r.to_vec()).unwrap();
                        assert!(
                            ["amp", "gt", "lt", "#233"].contains(&name.as_str()),
                            "{name}"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => panic!("{n}: {e} in {out}"),
                }
            }
        }
    }

    #[test]
    fn clip_refuses_a_tag_past_its_cap() {
        let tight = Limits { tag: 64, ..SMALL };
        let err = clip_with(&format!("<a {}/>", "b=\"1\" ".repeat(20)), tight).unwrap_err();
        assert!(
            err.contains("a tag or declaration longer than 64 bytes"),
            "{err}"
        );
        let err = clip_with(&format!("<!DOCTYPE a [{}]><a/>", "x".repeat(80)), tight).unwrap_err();
        assert!(err.contains("longer than"), "{err}");
        // A long value is cut, and what is left of it counts toward the tag: a few long values
        // pass, many do not.
        assert!(clip(&format!("<a b=\"{}\"/>", "x".repeat(2000))).is_ok());
        let mut many = String::new();
        for i in 0..20 {
            many.push_str(&format!(" a{i}=\"{}\"", "x".repeat(300)));
        }
        let err = clip(&format!("<a{many}/>")).unwrap_err();
        assert!(
            err.contains("a tag or declaration longer than 1 KiB"),
            "{err}"
        );
    }

    #[test]
    fn clip_ends_cleanly_on_a_document_cut_short() {
        assert_eq!(clip("<a>xy").unwrap(), "<a>xy");
        assert_eq!(clip("<a><![CDATA[x]]").unwrap(), "<a><![CDATA[x]]");
        assert_eq!(clip("<a b=\"x").unwrap(), "<a b=\"x");
        assert_eq!(clip("<!-").unwrap(), "<!-");
    }

    #[test]
    fn a_budget_keeps_texts_and_cases_up_to_its_caps() {
        let mut b = Budget::new(SMALL);
        assert_eq!(b.text("a".repeat(30)), "a".repeat(30));
        assert_eq!(b.text("b".repeat(10)), "b".repeat(10));
        let over = b.text("c".repeat(5));
        assert!(over.starts_with("[ptest: 5 bytes not kept"), "{over}");
        let case = crate::report::tests::test_case("t", None, super::super::case::Outcome::Passed);
        assert!(b.take_case(&case) && b.take_case(&case));
        assert!(!b.take_case(&case) && !b.take_case(&case));
        assert_eq!(b.dropped_cases, 2);
        let w = b.warning().unwrap();
        assert!(w.contains("left out its last 2 testcases (a results file keeps up to 2 testcases and 1 MiB of names)"), "{w}");
        assert_eq!(Budget::new(SMALL).warning(), None);
        // Names count too.
        let mut b = Budget::new(Limits {
            case_bytes: 1000,
            ..SMALL
        });
        let long = crate::report::tests::test_case(
            &"n".repeat(900),
            None,
            super::super::case::Outcome::Passed,
        );
        assert!(!b.take_case(&long));
        assert!(!b.take_case(&case), "nothing after the first left out");
    }
}
