//! TYPE A (RFC 959 §3.1.1.1): files are stored with Unix line ends (LF) and travel as
//! NVT-ASCII lines ending in CRLF. Both directions are streaming converters that keep the
//! one octet of state a chunk boundary can split (a CR waiting for its LF).

/// LF to CRLF, for sending. Stateless: every LF becomes CRLF (a CR already in the file
/// is sent as it is, as vsftpd and ProFTPD do).
pub fn to_network(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len() + input.len() / 16);
    for &b in input {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
}

/// CRLF to LF, for receiving. A CR not followed by LF is kept.
#[derive(Debug, Default)]
pub struct FromNetwork {
    pending_cr: bool,
}

impl FromNetwork {
    pub fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + 1);
        for &b in input {
            if self.pending_cr {
                self.pending_cr = false;
                if b != b'\n' {
                    out.push(b'\r');
                }
            }
            if b == b'\r' {
                self.pending_cr = true;
            } else {
                out.push(b);
            }
        }
    }

    /// Call at end of stream: a trailing lone CR is data.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lf_becomes_crlf_on_the_wire() {
        let mut out = Vec::new();
        to_network(b"a\nb\n\nc", &mut out);
        assert_eq!(out, b"a\r\nb\r\n\r\nc");
    }

    #[test]
    fn crlf_becomes_lf_at_every_chunk_size() {
        let input = b"line1\r\nline2\rnot-eol\r\n\r\nend\r";
        let want = b"line1\nline2\rnot-eol\n\nend\r".to_vec();
        let mut size = 1;
        while size <= 512 {
            let mut conv = FromNetwork::default();
            let mut out = Vec::new();
            for chunk in input.chunks(size) {
                conv.convert(chunk, &mut out);
            }
            conv.finish(&mut out);
            assert_eq!(out, want, "chunk size {size}");
            size *= 2;
        }
    }
}
