//! Who besides its owner can read a file: the check behind the `.config` warning (the file
//! holds API keys).
//!
//! - Unix: the mode bits; any bit for group or others counts (`chmod 600` clears them).
//! - Windows: the file's discretionary access-control list (DACL, read with
//!   `GetNamedSecurityInfoW`). An entry that allows reading the data (`FILE_READ_DATA`,
//!   `GENERIC_READ` or `GENERIC_ALL`) to an account other than the file's owner, SYSTEM,
//!   Administrators or TrustedInstaller counts, unless an earlier entry denies that account
//!   (or Everyone) reading; entries that only pass on to child objects (`INHERIT_ONLY_ACE`)
//!   do not apply to the file. A file with no DACL at all is readable by everyone. Microsoft
//!   Learn: "How DACLs Control Access to an Object", "Order of ACEs in a DACL", "Well-known
//!   SIDs".
//!
//! A file whose permissions cannot be read (a file system without ACLs, a share that
//! refuses) gets no warning: the check cannot tell.

use std::path::Path;

/// Who else can read a file, and the command that restricts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherReaders {
    /// `other users` on Unix; the accounts (`BUILTIN\Users, Everyone`) on Windows.
    pub who: String,
    /// A command that leaves the file to its owner (Unix) or to SYSTEM and Administrators
    /// (Windows, as `contrib/windows/install-task.ps1` does).
    pub fix: String,
}

/// Who besides the owner can read `path`, or `None` when nobody else can (or the
/// permissions cannot be read).
pub fn other_readers(path: &Path) -> Option<OtherReaders> {
    imp::other_readers(path)
}

/// The well-known accounts that may hold a secret without a warning: SYSTEM (the scheduled
/// task's account), Administrators, TrustedInstaller, and OWNER RIGHTS (the owner itself).
pub const TRUSTED_SIDS: &[&str] = &[
    "S-1-5-18",
    "S-1-5-32-544",
    "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464",
    "S-1-3-4",
];

/// Everyone (S-1-1-0).
const EVERYONE: &str = "S-1-1-0";

/// Access rights that read a file's data: `FILE_READ_DATA`, `GENERIC_ALL`, `GENERIC_READ`.
pub const READ_RIGHTS: u32 = 0x0000_0001 | 0x1000_0000 | 0x8000_0000;

/// One access-control entry of a DACL, SID in string form (`S-1-5-32-545`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ace {
    /// An allow entry (`ACCESS_ALLOWED_ACE_TYPE`); else a deny entry.
    pub allow: bool,
    pub sid: String,
    pub mask: u32,
    /// `INHERIT_ONLY_ACE`: passed on to children, not applied to this object.
    pub inherit_only: bool,
}

/// The SIDs other than `owner` and [`TRUSTED_SIDS`] that the DACL lets read the data, in
/// DACL order, each once. `dacl` is `None` for a file without a DACL (everyone may read).
pub fn readers_besides(owner: Option<&str>, dacl: Option<&[Ace]>) -> Vec<String> {
    let Some(dacl) = dacl else {
        return vec![EVERYONE.to_owned()];
    };
    let mut denied: Vec<&str> = Vec::new();
    let mut readers: Vec<String> = Vec::new();
    for ace in dacl
        .iter()
        .filter(|a| !a.inherit_only && a.mask & READ_RIGHTS != 0)
    {
        let sid = ace.sid.as_str();
        if !ace.allow {
            denied.push(sid);
            continue;
        }
        let trusted = Some(sid) == owner || TRUSTED_SIDS.contains(&sid);
        let is_denied = denied.contains(&sid) || denied.contains(&EVERYONE);
        if !trusted && !is_denied && !readers.iter().any(|r| r == sid) {
            readers.push(sid.to_owned());
        }
    }
    readers
}

#[cfg(unix)]
mod imp {
    use super::OtherReaders;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    pub fn other_readers(path: &Path) -> Option<OtherReaders> {
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        (mode & 0o077 != 0).then(|| OtherReaders {
            who: "other users".to_owned(),
            fix: format!("`chmod 600 {}`", path.display()),
        })
    }
}

#[cfg(windows)]
mod imp {
    use super::{Ace, OtherReaders, readers_besides};
    use std::ffi::c_void;
    use std::os::windows::ffi::OsStrExt;
    use std::path::Path;
    use std::ptr::null_mut;

    use windows_sys::Win32::Foundation::{ERROR_SUCCESS, LocalFree};
    use windows_sys::Win32::Security::Authorization::{
        ConvertSidToStringSidW, GetNamedSecurityInfoW, SE_FILE_OBJECT,
    };
    use windows_sys::Win32::Security::{
        ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, ACL_SIZE_INFORMATION, AclSizeInformation,
        DACL_SECURITY_INFORMATION, GetAce, GetAclInformation, INHERIT_ONLY_ACE, LookupAccountSidW,
        OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID, SID_NAME_USE,
    };
    use windows_sys::Win32::System::SystemServices::{
        ACCESS_ALLOWED_ACE_TYPE, ACCESS_DENIED_ACE_TYPE,
    };

    pub fn other_readers(path: &Path) -> Option<OtherReaders> {
        let (owner, dacl, names) = match read_dacl(path) {
            Ok(read) => read,
            Err(e) => {
                tracing::debug!("cannot read the access list of {}: {e}", path.display());
                return None;
            }
        };
        let readers = readers_besides(owner.as_deref(), dacl.as_deref());
        if readers.is_empty() {
            return None;
        }
        let who = readers
            .iter()
            .map(|sid| names.iter().find(|(s, _)| s == sid).map_or(sid, |(_, n)| n))
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        Some(OtherReaders {
            who,
            fix: format!(
                "`icacls \"{}\" /inheritance:r /grant:r *S-1-5-18:F *S-1-5-32-544:F` (SYSTEM and Administrators only; add the account that runs the job if it is another)",
                path.display()
            ),
        })
    }

    /// Frees what the security functions allocated.
    struct Local(*mut c_void);

    impl Drop for Local {
        fn drop(&mut self) {
            if !self.0.is_null() {
                // SAFETY: allocated by the system with LocalAlloc, freed once.
                unsafe { LocalFree(self.0) };
            }
        }
    }

    type Dacl = (Option<String>, Option<Vec<Ace>>, Vec<(String, String)>);

    /// The owner's SID, the DACL (`None`: no DACL), and `DOMAIN\name` of each SID in it.
    fn read_dacl(path: &Path) -> std::io::Result<Dacl> {
        let wide: Vec<u16> = path.as_os_str().encode_wide().chain([0]).collect();
        let mut owner: PSID = null_mut();
        let mut dacl: *mut ACL = null_mut();
        let mut descriptor: PSECURITY_DESCRIPTOR = null_mut();
        // SAFETY: a NUL-terminated path; out pointers to locals; the descriptor that holds
        // owner and dacl is freed by `_descriptor` after their last use.
        let rc = unsafe {
            GetNamedSecurityInfoW(
                wide.as_ptr(),
                SE_FILE_OBJECT,
                OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                &mut owner,
                null_mut(),
                &mut dacl,
                null_mut(),
                &mut descriptor,
            )
        };
        if rc != ERROR_SUCCESS {
            return Err(std::io::Error::from_raw_os_error(rc as i32));
        }
        let _descriptor = Local(descriptor);
        let owner = sid_string(owner);
        if dacl.is_null() {
            return Ok((owner, None, Vec::new()));
        }
        let mut info = ACL_SIZE_INFORMATION::default();
        // SAFETY: `dacl` points into the live descriptor; `info` is the class's struct.
        let ok = unsafe {
            GetAclInformation(
                dacl,
                (&raw mut info).cast(),
                size_of::<ACL_SIZE_INFORMATION>() as u32,
                AclSizeInformation,
            )
        };
        if ok == 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut aces = Vec::new();
        let mut names = Vec::new();
        for index in 0..info.AceCount {
            let mut ace: *mut c_void = null_mut();
            // SAFETY: index below the ACL's count; the ACE lives in the descriptor.
            if unsafe { GetAce(dacl, index, &mut ace) } == 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: every ACE starts with an ACE_HEADER.
            let header = unsafe { &*ace.cast::<ACE_HEADER>() };
            let ace_type = u32::from(header.AceType);
            if ace_type != ACCESS_ALLOWED_ACE_TYPE && ace_type != ACCESS_DENIED_ACE_TYPE {
                // Object and callback ACEs do not occur on files.
                continue;
            }
            // SAFETY: allowed and denied ACEs share ACCESS_ALLOWED_ACE's layout; the SID
            // starts at SidStart.
            let body = unsafe { &*ace.cast::<ACCESS_ALLOWED_ACE>() };
            let sid_ptr: PSID = (&raw const body.SidStart).cast_mut().cast();
            let Some(sid) = sid_string(sid_ptr) else {
                continue;
            };
            if let Some(name) = account_name(sid_ptr) {
                names.push((sid.clone(), name));
            }
            aces.push(Ace {
                allow: ace_type == ACCESS_ALLOWED_ACE_TYPE,
                sid,
                mask: body.Mask,
                inherit_only: u32::from(header.AceFlags) & INHERIT_ONLY_ACE != 0,
            });
        }
        Ok((owner, Some(aces), names))
    }

    /// `S-1-5-32-545` for a SID.
    fn sid_string(sid: PSID) -> Option<String> {
        if sid.is_null() {
            return None;
        }
        let mut text: *mut u16 = null_mut();
        // SAFETY: a valid SID; the string is freed by `_text`.
        if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
            return None;
        }
        let _text = Local(text.cast());
        // SAFETY: a NUL-terminated UTF-16 string from the system.
        let len = (0..).take_while(|&i| unsafe { *text.add(i) } != 0).count();
        let slice = unsafe { std::slice::from_raw_parts(text, len) };
        Some(String::from_utf16_lossy(slice))
    }

    /// `DOMAIN\name` (`BUILTIN\Users`) or `name` (`Everyone`) of a SID, when it resolves.
    fn account_name(sid: PSID) -> Option<String> {
        let mut name = [0u16; 256];
        let mut domain = [0u16; 256];
        let (mut name_len, mut domain_len) = (name.len() as u32, domain.len() as u32);
        let mut use_: SID_NAME_USE = 0;
        // SAFETY: buffers with their lengths in characters.
        let ok = unsafe {
            LookupAccountSidW(
                std::ptr::null(),
                sid,
                name.as_mut_ptr(),
                &mut name_len,
                domain.as_mut_ptr(),
                &mut domain_len,
                &mut use_,
            )
        };
        if ok == 0 {
            return None;
        }
        let name = String::from_utf16_lossy(&name[..name_len as usize]);
        let domain = String::from_utf16_lossy(&domain[..domain_len as usize]);
        Some(if domain.is_empty() {
            name
        } else {
            format!("{domain}\\{name}")
        })
    }
}

#[cfg(not(any(unix, windows)))]
mod imp {
    use super::OtherReaders;
    use std::path::Path;

    pub fn other_readers(_path: &Path) -> Option<OtherReaders> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ace(allow: bool, sid: &str, mask: u32) -> Ace {
        Ace {
            allow,
            sid: sid.to_owned(),
            mask,
            inherit_only: false,
        }
    }

    const USERS: &str = "S-1-5-32-545";
    const ALICE: &str = "S-1-5-21-1-2-3-1001";
    const BOB: &str = "S-1-5-21-1-2-3-1002";
    /// FILE_GENERIC_READ | FILE_EXECUTE: what "Read & execute" grants.
    const READ_EXECUTE: u32 = 0x0012_00a9;
    /// FILE_ALL_ACCESS.
    const FULL: u32 = 0x001f_01ff;

    #[test]
    fn program_data_default_is_readable_by_users() {
        // C:\ProgramData\x as Windows creates it: SYSTEM, Administrators, the creator, Users.
        let dacl = [
            ace(true, "S-1-5-18", FULL),
            ace(true, "S-1-5-32-544", FULL),
            ace(true, ALICE, FULL),
            ace(true, USERS, READ_EXECUTE),
            ace(true, USERS, 0x0000_0116), // Users: write data, append, write attributes.
        ];
        assert_eq!(readers_besides(Some(ALICE), Some(&dacl)), [USERS]);
        // The same without the Users entry (what install-task.ps1 leaves): nobody else.
        assert!(readers_besides(Some(ALICE), Some(&dacl[..3])).is_empty());
    }

    #[test]
    fn another_account_counts_and_write_only_does_not() {
        let dacl = [ace(true, ALICE, FULL), ace(true, BOB, 0x0000_0002)];
        assert!(readers_besides(Some(ALICE), Some(&dacl)).is_empty());
        let dacl = [ace(true, ALICE, FULL), ace(true, BOB, 0x8000_0000)];
        assert_eq!(readers_besides(Some(ALICE), Some(&dacl)), [BOB]);
        // Not the owner: Alice's entry counts too.
        assert_eq!(readers_besides(Some(BOB), Some(&dacl)), [ALICE]);
    }

    #[test]
    fn earlier_deny_entries_and_inherit_only_entries() {
        let dacl = [
            ace(false, EVERYONE, READ_EXECUTE),
            ace(true, USERS, READ_EXECUTE),
        ];
        assert!(readers_besides(None, Some(&dacl)).is_empty());
        let dacl = [
            ace(false, BOB, 0x1),
            ace(true, BOB, FULL),
            ace(true, USERS, 0x1),
        ];
        assert_eq!(readers_besides(None, Some(&dacl)), [USERS]);
        // A deny after the allow does not undo it (canonical order puts denies first).
        let dacl = [ace(true, BOB, FULL), ace(false, BOB, FULL)];
        assert_eq!(readers_besides(None, Some(&dacl)), [BOB]);
        let inherited = Ace {
            inherit_only: true,
            ..ace(true, USERS, FULL)
        };
        assert!(readers_besides(None, Some(&[inherited])).is_empty());
    }

    #[test]
    fn no_dacl_is_everyone_and_an_empty_dacl_is_nobody() {
        assert_eq!(readers_besides(Some(ALICE), None), [EVERYONE]);
        assert!(readers_besides(Some(ALICE), Some(&[])).is_empty());
        let dacl = [ace(true, EVERYONE, READ_EXECUTE), ace(true, EVERYONE, FULL)];
        assert_eq!(readers_besides(Some(ALICE), Some(&dacl)), [EVERYONE]);
    }

    #[cfg(unix)]
    #[test]
    fn unix_mode_bits() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".config");
        std::fs::write(&path, "x").unwrap();
        for (mode, readable) in [(0o600, false), (0o400, false), (0o640, true), (0o604, true)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let others = other_readers(&path);
            assert_eq!(others.is_some(), readable, "{mode:o}");
        }
        assert_eq!(
            other_readers(&path).unwrap().fix,
            format!("`chmod 600 {}`", path.display())
        );
        assert_eq!(other_readers(&dir.path().join("missing")), None);
    }
}
