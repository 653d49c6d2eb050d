//! Rules the test suite keeps, checked on its own source.

use std::path::{Path, PathBuf};

/// What a closure marks itself with when its panic is the behaviour under
/// test (put it on the line before the call or inside the closure).
const ON_PURPOSE: &str = "panics on purpose";

/// No assertion or panic inside a closure given to a client callback setter
/// (`.on_connect(...)`, `.message_callback_add(...)`, ...) in tests/.
///
/// The client catches a callback's panic: on the `loop_start` thread it ends
/// that thread, logs "Caught exception in ...", and `loop_stop` still returns
/// Success; `on_log` and `on_connect_fail` panics are always swallowed. So an
/// assertion there cannot fail its test. Callbacks record what they saw (a
/// channel, a `Mutex<Vec<_>>`, an atomic) and the test thread asserts.
///
/// A textual check: closures passed through a helper function, or a named
/// function given as the callback, are not seen.
#[test]
fn no_assertion_inside_a_callback_closure() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 10, "tests/ not found: {files:?}");
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (line, what) in callback_assertions(&text) {
            found.push(format!("{}:{line}: {what}", file.display()));
        }
    }
    assert!(
        found.is_empty(),
        "assertions inside callback closures cannot fail their test (record in the \
         callback, assert on the test thread; mark a panic that is the behaviour under \
         test with a comment \"{ON_PURPOSE}\"):\n{}",
        found.join("\n")
    );
}

/// The checker itself: it finds what it must, and nothing in strings or
/// comments.
#[test]
fn the_checker_sees_assertions_in_callbacks_only() {
    let source = r##"
        c.on_connect(move |client, _, _, _, _| {
            let (a, b) = (1, (2, 3));
            assert_eq!(a, 1);
        });
        c.message_callback_add("t/#", |_, _, m| {
            // a ')' in a comment, a '(' char, and "assert!(x)" in a string
            let _ = ('(', '\'', "assert!(x)", r#"panic!()"#);
            panic!("no");
        });
        c.on_message(|_, _, m| tx.send(m.mid).unwrap());
        assert!(c.is_connected());
        c.on_log(|_, _, _, _| {
            // panics on purpose: the swallowing is under test
            panic!("on_log");
        });
        // panics on purpose
        c.on_publish(|_, _, _, _, _| unreachable!());
        c.on_subscribe(|_, _, _, _, _: &Properties<'_>| debug_assert!(true));
    "##;
    assert_eq!(
        callback_assertions(source),
        [
            (2, "on_connect: assert_eq!".to_string()),
            (6, "message_callback_add: panic!".to_string()),
            (19, "on_subscribe: debug_assert!".to_string()),
        ]
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
}

/// (line of the setter call, "setter: macro!") for each assertion or panic
/// macro inside the arguments of a callback setter call.
fn callback_assertions(text: &str) -> Vec<(usize, String)> {
    let code = mask(text);
    let chars: Vec<char> = code.chars().collect();
    let original: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let Some((setter, open)) = setter_call(&chars, i) else {
            i += 1;
            continue;
        };
        let close = matching_paren(&chars, open);
        let body: String = chars[open..close].iter().collect();
        let line_start = chars[..i]
            .iter()
            .rposition(|&c| c == '\n')
            .map_or(0, |p| p + 1);
        let previous_line_start = chars[..line_start.saturating_sub(1)]
            .iter()
            .rposition(|&c| c == '\n')
            .map_or(0, |p| p + 1);
        let marked: String = original[previous_line_start..close].iter().collect();
        if !marked.contains(ON_PURPOSE) {
            let line = chars[..i].iter().filter(|&&c| c == '\n').count() + 1;
            for word in macro_calls(&body) {
                if word.contains("assert")
                    || ["panic", "unreachable", "todo", "unimplemented"].contains(&word.as_str())
                {
                    found.push((line, format!("{setter}: {word}!")));
                }
            }
        }
        i = open;
    }
    found
}

/// At `i`, `.on_xxx(` or `.message_callback_add(`: the setter's name and the
/// index of its `(`.
fn setter_call(chars: &[char], i: usize) -> Option<(String, usize)> {
    if chars[i] != '.' {
        return None;
    }
    let name: String = chars[i + 1..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
        .collect();
    let open = i + 1 + name.len();
    let is_setter = name.starts_with("on_") || name == "message_callback_add";
    (is_setter && chars.get(open) == Some(&'(')).then_some((name, open))
}

fn matching_paren(chars: &[char], open: usize) -> usize {
    let mut depth = 0;
    for (j, &c) in chars.iter().enumerate().skip(open) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return j;
                }
            }
            _ => {}
        }
    }
    chars.len()
}

/// The names of the macros called in `code` (`name!`).
fn macro_calls(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut word = String::new();
    for c in code.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            if c == '!' && !word.is_empty() {
                names.push(word.clone());
            }
            word.clear();
        }
    }
    names
}

/// `text` with comments and the insides of string and char literals
/// replaced by spaces (newlines kept), so brackets and macro names in them
/// do not count.
fn mask(text: &str) -> String {
    let s: Vec<char> = text.chars().collect();
    let mut out = s.clone();
    let blank = |out: &mut Vec<char>, from: usize, to: usize| {
        for c in &mut out[from..to.min(s.len())] {
            if *c != '\n' {
                *c = ' ';
            }
        }
    };
    let mut i = 0;
    while i < s.len() {
        let next = s.get(i + 1).copied();
        if s[i] == '/' && next == Some('/') {
            let end = s[i..]
                .iter()
                .position(|&c| c == '\n')
                .map_or(s.len(), |p| i + p);
            blank(&mut out, i, end);
            i = end;
        } else if s[i] == '/' && next == Some('*') {
            let (mut depth, mut j) = (1, i + 2);
            while j < s.len() && depth > 0 {
                if s[j] == '/' && s.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 1;
                } else if s[j] == '*' && s.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 1;
                }
                j += 1;
            }
            blank(&mut out, i, j);
            i = j;
        } else if let Some((content, end)) = raw_string(&s, i) {
            blank(&mut out, content, end);
            i = end;
        } else if s[i] == '"' {
            let mut j = i + 1;
            while j < s.len() && s[j] != '"' {
                j += if s[j] == '\\' { 2 } else { 1 };
            }
            blank(&mut out, i + 1, j);
            i = j + 1;
        } else if s[i] == '\'' {
            // A char literal ('x', '\n', '\u{..}'), else a lifetime.
            let end = if next == Some('\\') {
                s[i + 3..]
                    .iter()
                    .position(|&c| c == '\'')
                    .map(|p| i + 3 + p)
            } else if s.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(end) => {
                    blank(&mut out, i + 1, end);
                    i = end + 1;
                }
                None => i += 1,
            }
        } else if s[i].is_ascii_alphanumeric() || s[i] == '_' {
            // Skip the identifier, so the `r` of `bar"` is not a raw string.
            while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == '_') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out.into_iter().collect()
}

/// At `i`, a raw string (`r"..."`, `r#"..."#`, `br#"..."#`): where its
/// content starts and where the literal ends.
fn raw_string(s: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if s[j] == 'b' {
        j += 1;
    }
    if s.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = s[j..].iter().take_while(|&&c| c == '#').count();
    j += hashes;
    if s.get(j) != Some(&'"') {
        return None;
    }
    let content = j + 1;
    let mut k = content;
    while k < s.len() {
        if s[k] == '"'
            && s[k + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == '#')
                .count()
                == hashes
        {
            return Some((content, k + 1 + hashes));
        }
        k += 1;
    }
    Some((content, s.len()))
}
