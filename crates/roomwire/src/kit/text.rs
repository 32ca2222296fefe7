//! Cleaning user-supplied text that other people's screens will show.

/// Removes markup: every `<...>` tag, and the whole content of `<script>` and `<style>`
/// elements. What remains is plain text (entities are left as written).
pub fn strip_markup(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let lower = input.to_ascii_lowercase();
    let mut i = 0;
    let bytes = input.as_bytes();
    while i < bytes.len() {
        if bytes[i] == b'<' {
            let Some(end) = input[i..].find('>').map(|e| i + e) else {
                // An unclosed `<` is not a tag; keep the rest as text without the bracket.
                out.push_str(&input[i + 1..]);
                break;
            };
            let tag = lower[i + 1..end].trim_start();
            let skip_until = ["script", "style"].iter().find_map(|name| {
                let opens = tag.starts_with(name)
                    && tag[name.len()..]
                        .chars()
                        .next()
                        .is_none_or(|c| c.is_whitespace() || c == '/');
                opens.then(|| format!("</{name}"))
            });
            i = end + 1;
            if let Some(close) = skip_until {
                match lower[i..].find(&close) {
                    Some(p) => {
                        let after = i + p;
                        i = input[after..]
                            .find('>')
                            .map(|e| after + e + 1)
                            .unwrap_or(bytes.len());
                    }
                    None => i = bytes.len(),
                }
            }
            continue;
        }
        let ch_end = next_char_boundary(input, i);
        out.push_str(&input[i..ch_end]);
        i = ch_end;
    }
    out
}

fn next_char_boundary(s: &str, i: usize) -> usize {
    let mut j = i + 1;
    while j < s.len() && !s.is_char_boundary(j) {
        j += 1;
    }
    j
}

/// A display name: markup stripped, control characters removed, trimmed, at most `max`
/// characters; `fallback` when nothing is left.
pub fn clean_name(input: &str, max: usize, fallback: &str) -> String {
    let stripped = strip_markup(input);
    let cleaned: String = stripped
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() {
        fallback.to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_tags_and_script_bodies() {
        assert_eq!(
            strip_markup("<b>hi</b><script>alert(1)</script> there"),
            "hi there"
        );
        assert_eq!(strip_markup("a < b"), "a  b");
        assert_eq!(strip_markup("<STYLE type=x>p{}</Style>ok"), "ok");
        assert_eq!(strip_markup("<img src=x onerror=alert(1)>é"), "é");
        assert_eq!(strip_markup("no markup 👍"), "no markup 👍");
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("  <i>Ana</i>\n ", 64, "Guest"), "Ana");
        assert_eq!(clean_name("<b></b>", 64, "Guest"), "Guest");
        assert_eq!(clean_name(&"x".repeat(100), 5, "Guest"), "xxxxx");
    }
}
