//! Reading local files with a cap: every file this tool reads whole (the config file, a CA
//! bundle, `--file` inputs, the simulator's TLS files) goes through [`read_capped`], so that
//! `--file /dev/zero`, a FIFO that never ends or a file far larger than any real input is an
//! error naming it, never memory exhaustion.

use std::io::{self, Read};
use std::path::Path;

/// The most read from a `.config` file (a real one is a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// The most read from a PEM file: a CA bundle (the system's whole bundle is about 200 KiB),
/// a certificate chain or a private key.
pub const MAX_PEM_BYTES: u64 = 4 << 20;
/// The most read from one `--file` of `--source file` (a STIX bundle or a plain list): far
/// more than the 10,000 entries a type Apex holds, in any format.
pub const MAX_INPUT_FILE_BYTES: u64 = 64 << 20;

/// A size for a message: `64 MiB`, or the exact number of bytes when it is not whole MiB.
pub fn describe_size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// The whole of `path`, at most `cap` bytes. A regular file whose size is over the cap is
/// refused before a byte is read; anything else (a device, a pipe, a file that grows) is read
/// to at most `cap + 1` bytes. The error of a file over the cap has the kind
/// [`io::ErrorKind::FileTooLarge`] and says the cap; callers add which file and option.
pub fn read_capped(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let metadata = file.metadata()?;
    let too_large = || {
        io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!(
                "larger than {}, the most this tool reads from such a file",
                describe_size(cap)
            ),
        )
    };
    if metadata.is_file() && metadata.len() > cap {
        return Err(too_large());
    }
    let expected = if metadata.is_file() {
        metadata.len().min(cap)
    } else {
        0
    };
    let mut bytes = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(too_large());
    }
    Ok(bytes)
}

/// [`read_capped`] as UTF-8 text (a byte-order mark is kept for the caller to strip); an
/// error names the first line that is not UTF-8.
pub fn read_text_capped(path: &Path, cap: u64) -> io::Result<String> {
    String::from_utf8(read_capped(path, cap)?).map_err(|e| {
        let line = first_non_utf8_line(e.as_bytes(), e.utf8_error());
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not UTF-8 text at line {line}"),
        )
    })
}

/// The line (from 1) of `bytes` where `error`, their UTF-8 error, is.
pub fn first_non_utf8_line(bytes: &[u8], error: std::str::Utf8Error) -> usize {
    bytes[..error.valid_up_to()]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_at_the_cap_is_read_and_one_byte_more_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![b'a'; 1000]).unwrap();
        assert_eq!(read_capped(&path, 1000).unwrap().len(), 1000);
        let e = read_capped(&path, 999).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert!(e.to_string().contains("larger than 999 bytes"), "{e}");
    }

    #[test]
    fn a_sparse_file_over_the_cap_is_refused_without_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparse");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(MAX_INPUT_FILE_BYTES + 1).unwrap();
        let e = read_capped(&path, MAX_INPUT_FILE_BYTES).unwrap_err();
        assert!(e.to_string().contains("larger than 64 MiB"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_device_without_end_is_cut_at_the_cap() {
        let e = read_capped(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert!(e.to_string().contains("1 MiB"), "{e}");
    }

    #[test]
    fn text_must_be_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        std::fs::write(&path, b"ok\n\xff").unwrap();
        let e = read_text_capped(&path, 100).unwrap_err();
        assert!(e.to_string().contains("not UTF-8 text at line 2"), "{e}");
        std::fs::write(&path, "ünï").unwrap();
        assert_eq!(read_text_capped(&path, 100).unwrap(), "ünï");
    }
}
