//! Bytes to text across read boundaries: a multi-byte character split
//! between two reads is joined, invalid bytes become U+FFFD.

/// One byte stream being decoded.
#[derive(Debug, Default)]
pub struct Utf8Stream {
    /// Bytes of an incomplete UTF-8 sequence waiting for the rest.
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// The text `bytes` complete; an incomplete character at the end waits.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut pending = std::mem::take(&mut self.pending);
        let mut text = String::new();
        loop {
            match std::str::from_utf8(&pending) {
                Ok(valid) => {
                    text.push_str(valid);
                    pending.clear();
                    break;
                }
                Err(e) => {
                    let valid_up_to = e.valid_up_to();
                    text.push_str(&String::from_utf8_lossy(&pending[..valid_up_to]));
                    match e.error_len() {
                        // An incomplete sequence at the end: wait for more bytes.
                        None => {
                            pending.drain(..valid_up_to);
                            break;
                        }
                        Some(bad) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            pending.drain(..valid_up_to + bad);
                        }
                    }
                }
            }
        }
        self.pending = pending;
        text
    }

    /// What is left at the end (an incomplete character, as U+FFFD).
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        String::from_utf8_lossy(&rest).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_split_across_reads_are_joined() {
        let mut stream = Utf8Stream::default();
        let bytes = "héllo".as_bytes();
        assert_eq!(stream.push(&bytes[..2]), "h");
        assert_eq!(stream.push(&bytes[2..]), "éllo");
        assert_eq!(stream.finish(), "");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut stream = Utf8Stream::default();
        assert_eq!(stream.push(b"a\xffb\xc3"), "a\u{fffd}b");
        assert_eq!(stream.finish(), "\u{fffd}");
    }
}
