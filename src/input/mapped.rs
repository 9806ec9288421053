//! A read-only memory map of a regular file, guarded against the file being truncated while it
//! is mapped.
//!
//! Reading a mapped page that lies past the end of a file that shrank after it was mapped
//! raises SIGBUS, which would kill the process with no message. On Linux this module installs
//! (once per process) a SIGBUS handler that looks up the faulting address among the live maps
//! registered here: when it falls inside one, the handler maps a page of zeros over the missing
//! page and marks the map, so the read goes on with zeros and [`Map::with`] reports
//! [`Truncated`] afterwards; a fault outside every map is given back to the handler that was
//! there before (the default one kills the process as it always would).
//!
//! The trade-off, against reading into a buffer: no copy and no zeroed allocation (the pages
//! come from the page cache as they are first read, by whichever threads read them; the
//! kernel maps sixteen at a time), but the bytes are the file's live
//! contents, so a file rewritten in place while it is parsed can give a mix of old and new
//! bytes (a read has the same race, in a shorter window) and a truncated one gives a clean
//! error instead of whatever prefix a read would have returned. A file that grows is read up to
//! the length it had when it was opened, so the size limit holds. Elsewhere than Linux, or when
//! every guard slot is taken (more than [`SLOTS`] maps at once in one process), the caller
//! reads the file instead.

use std::fs::File;

/// The file shrank while it was mapped: some of the bytes the caller saw were zeros standing in
/// for pages that no longer exist.
#[derive(Debug)]
pub(super) struct Truncated;

/// A mapped file whose pages are watched by the SIGBUS guard while the map lives.
pub(super) struct Map {
    map: memmap2::Mmap,
    #[cfg(target_os = "linux")]
    slot: guard::Slot,
}

/// Maps of this many bytes or more are unmapped on a helper thread.
const UNMAP_ON_A_HELPER: usize = 1024 * 1024;

/// How many maps the guard can watch at once (tests map notebooks from many threads).
const SLOTS: usize = 64;

/// Maps the first `length` bytes of `file`, or `None` when it cannot or should not be mapped:
/// the caller then reads the file.
pub(super) fn map(file: &File, length: u64) -> Option<Map> {
    // A zero-length map is an error for mmap; an empty file is read (in no time).
    if length == 0 || !cfg!(target_os = "linux") {
        return None;
    }
    let length = usize::try_from(length).ok()?;
    #[cfg(target_os = "linux")]
    {
        let slot = guard::Slot::claim()?;
        // SAFETY: the map is only read through `Map::with`; the ways another process can change
        // the file under it are a rewrite (the caller sees live bytes, which at worst fail to
        // parse) and a truncation (the SIGBUS guard, registered before the first read below,
        // replaces the missing pages with zeros and reports it).
        let map = unsafe { memmap2::MmapOptions::new().len(length).map(file) }.ok()?;
        slot.watch(map.as_ptr() as usize, map.len());
        Some(Map { map, slot })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, length);
        None
    }
}

impl Map {
    /// Runs `use_bytes` on the mapped bytes; [`Truncated`] when the file shrank meanwhile (the
    /// closure's result is dropped then: it was computed from zeros, not the file).
    ///
    /// A big map is unmapped on a helper thread afterwards: taking down the page tables of a
    /// file of megabytes takes a few percent of a conversion, and nothing waits for it.
    pub(super) fn with<T>(self, use_bytes: impl FnOnce(&[u8]) -> T) -> Result<T, Truncated> {
        let result = use_bytes(&self.map);
        #[cfg(target_os = "linux")]
        let truncated = self.slot.faulted();
        #[cfg(not(target_os = "linux"))]
        let truncated = false;
        if self.map.len() >= UNMAP_ON_A_HELPER {
            crate::parallel::drop_on_a_helper(self);
        }
        if truncated {
            return Err(Truncated);
        }
        Ok(result)
    }
}

#[cfg(target_os = "linux")]
mod guard {
    //! The SIGBUS handler and the table of watched address ranges it consults. The table is a
    //! fixed array of atomics because a signal handler may not lock or allocate.

    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Once;

    struct Range {
        /// Claimed by a [`Slot`].
        busy: AtomicBool,
        /// First byte of the watched map; 0 while not watching.
        start: AtomicUsize,
        length: AtomicUsize,
        /// The handler replaced a page of this range.
        faulted: AtomicBool,
    }

    #[allow(clippy::declare_interior_mutable_const)] // the template for the array below
    const FREE: Range = Range {
        busy: AtomicBool::new(false),
        start: AtomicUsize::new(0),
        length: AtomicUsize::new(0),
        faulted: AtomicBool::new(false),
    };

    static RANGES: [Range; super::SLOTS] = [FREE; super::SLOTS];
    static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);
    static INSTALL: Once = Once::new();
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    /// The SIGBUS action before ours, for faults that are not ours.
    static mut PREVIOUS: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::uninit();

    /// One entry of the table, freed when dropped (after the map is unmapped: `Map` declares
    /// the map first, so it is dropped first).
    pub(super) struct Slot(usize);

    impl Slot {
        /// A free entry, with the handler installed; `None` when the table is full or the
        /// handler could not be installed.
        pub(super) fn claim() -> Option<Slot> {
            install();
            if !INSTALLED.load(Ordering::Acquire) {
                return None;
            }
            let index = RANGES.iter().position(|range| {
                range
                    .busy
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            })?;
            RANGES[index].faulted.store(false, Ordering::Release);
            Some(Slot(index))
        }

        /// Starts watching `length` bytes from `start`.
        pub(super) fn watch(&self, start: usize, length: usize) {
            let range = &RANGES[self.0];
            range.length.store(length, Ordering::Release);
            range.start.store(start, Ordering::Release);
        }

        /// The handler replaced a page of the watched range.
        pub(super) fn faulted(&self) -> bool {
            RANGES[self.0].faulted.load(Ordering::Acquire)
        }
    }

    impl Drop for Slot {
        fn drop(&mut self) {
            let range = &RANGES[self.0];
            range.start.store(0, Ordering::Release);
            range.length.store(0, Ordering::Release);
            range.busy.store(false, Ordering::Release);
        }
    }

    fn install() {
        INSTALL.call_once(|| {
            // SAFETY: sysconf and sigaction are called with valid arguments; PREVIOUS is written
            // here, once, before the handler that reads it can run.
            unsafe {
                let page = libc::sysconf(libc::_SC_PAGESIZE);
                if page <= 0 {
                    return;
                }
                PAGE_SIZE.store(page as usize, Ordering::Release);
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_sigbus as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                let previous = &raw mut PREVIOUS;
                if libc::sigaction(libc::SIGBUS, &action, (*previous).as_mut_ptr()) == 0 {
                    INSTALLED.store(true, Ordering::Release);
                }
            }
        });
    }

    /// Replaces the missing page under a watched range with zeros; gives any other fault back
    /// to the previous action, which the faulting instruction then meets again.
    extern "C" fn on_sigbus(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
        // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers; mmap and sigaction
        // are system calls, safe to make in a handler on Linux.
        unsafe {
            let address = (*info).si_addr() as usize;
            let page_size = PAGE_SIZE.load(Ordering::Acquire);
            for range in &RANGES {
                let start = range.start.load(Ordering::Acquire);
                let length = range.length.load(Ordering::Acquire);
                if start == 0 || address < start || address - start >= length {
                    continue;
                }
                let page = address & !(page_size - 1);
                let zeros = libc::mmap(
                    page as *mut libc::c_void,
                    page_size,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                );
                if zeros != libc::MAP_FAILED {
                    range.faulted.store(true, Ordering::Release);
                    return;
                }
            }
            let previous = &raw const PREVIOUS;
            libc::sigaction(libc::SIGBUS, (*previous).as_ptr(), std::ptr::null_mut());
        }
    }
}
