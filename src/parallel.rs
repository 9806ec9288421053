//! Work on a notebook's cells spread over the machine's cores, for the passes where each cell
//! stands alone (cleaning its magics, parsing it): the results come back in the cells' order,
//! so what follows cannot tell it from a loop.

use std::num::NonZeroUsize;
use std::thread;

/// Fewer items of work than this (bytes of code, say) are done on the calling thread: a thread
/// costs tens of microseconds to start, parsing a kilobyte of Python about as much.
pub const WORTH_A_THREAD: usize = 32 * 1024;

/// More threads than this gain nothing on a notebook, whose passes take milliseconds.
const MAX_THREADS: usize = 4;

/// The stack of every thread that parses or walks a cell. `python::limits` keeps every syntax
/// tree shallow before the recursive parser and visitors see it; this much stack (reserved,
/// only touched as used) is the margin that keeps a debug build within them too.
pub const STACK_BYTES: usize = 256 * 1024 * 1024;

/// `work` of every item, in the items' order. When `size` (what the items weigh, in whatever
/// unit `WORTH_A_THREAD` is compared with) is large enough, the items are split into one
/// contiguous run per core, each run on a thread of its own; otherwise, or when no thread can
/// be started, all run on the calling thread.
pub fn map_in_order<'a, T, R, F>(items: &'a [T], size: usize, work: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&'a T) -> R + Sync,
{
    let threads = if size < 2 * WORTH_A_THREAD {
        1
    } else {
        thread::available_parallelism()
            .map_or(1, NonZeroUsize::get)
            .min(MAX_THREADS)
            .min(size / WORTH_A_THREAD)
            .min(items.len())
    };
    if threads <= 1 {
        return items.iter().map(&work).collect();
    }
    let run = items.len().div_ceil(threads);
    let work = &work;
    thread::scope(|scope| {
        let (first, rest) = items.split_at(run.min(items.len()));
        // The calling thread takes the first run; a run whose thread cannot start is done here
        // too, after it.
        let spawned: Vec<Result<_, &'a [T]>> = rest
            .chunks(run)
            .map(|chunk| {
                thread::Builder::new()
                    .stack_size(STACK_BYTES)
                    .spawn_scoped(scope, move || chunk.iter().map(work).collect::<Vec<R>>())
                    .map_err(|_| chunk)
            })
            .collect();
        let mut results: Vec<R> = first.iter().map(work).collect();
        for handle in spawned {
            match handle {
                Ok(handle) => match handle.join() {
                    Ok(done) => results.extend(done),
                    // A panic in the work is the work's bug: it surfaces as it would in a loop.
                    Err(panic) => std::panic::resume_unwind(panic),
                },
                Err(chunk) => results.extend(chunk.iter().map(work)),
            }
        }
        results
    })
}

/// Frees `value` on a thread of its own, when freeing it is worth one: a large notebook's
/// syntax trees and facts take a few percent of a conversion to free, work that needs no
/// answer, and by the time they are done with the other cores are idle. A process that exits
/// first does not wait for it; the memory goes back with the process. Without a thread, the
/// value is freed here.
pub fn drop_in_background<T: Send + 'static>(value: T, size: usize) {
    if size < 2 * WORTH_A_THREAD {
        return;
    }
    // A thread that cannot start drops its closure, and the value with it, right here.
    let _ = thread::Builder::new()
        .name("nb2svc-free".into())
        .spawn(move || drop(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_freed_in_the_background_is_freed() {
        struct Flag(std::sync::mpsc::Sender<std::thread::ThreadId>);
        impl Drop for Flag {
            fn drop(&mut self) {
                let _ = self.0.send(std::thread::current().id());
            }
        }
        let caller = std::thread::current().id();
        let (sender, freed) = std::sync::mpsc::channel();
        drop_in_background(Flag(sender.clone()), 0);
        assert_eq!(freed.recv().unwrap(), caller, "small values are freed here");
        drop_in_background(Flag(sender), 100 * WORTH_A_THREAD);
        let on = freed
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        assert_ne!(on, caller, "large values are freed on another thread");
    }

    #[test]
    fn results_keep_the_order_of_the_items_on_one_thread_or_several() {
        let items: Vec<usize> = (0..1000).collect();
        let squares: Vec<usize> = items.iter().map(|i| i * i).collect();
        assert_eq!(map_in_order(&items, 0, |i| i * i), squares);
        assert_eq!(
            map_in_order(&items, 100 * WORTH_A_THREAD, |i| i * i),
            squares
        );
    }

    #[test]
    fn work_spread_over_threads_runs_on_more_than_one() {
        let items: Vec<usize> = (0..64).collect();
        let ids = map_in_order(&items, 100 * WORTH_A_THREAD, |_| {
            std::thread::sleep(std::time::Duration::from_millis(1));
            std::thread::current().id()
        });
        let distinct: std::collections::HashSet<_> = ids.into_iter().collect();
        let cores = thread::available_parallelism().map_or(1, NonZeroUsize::get);
        assert_eq!(distinct.len(), cores.min(MAX_THREADS));
    }

    #[test]
    fn a_few_items_stay_on_the_calling_thread() {
        let caller = std::thread::current().id();
        let ids = map_in_order(&[1, 2, 3], WORTH_A_THREAD, |_| std::thread::current().id());
        assert!(ids.iter().all(|id| *id == caller));
    }
}
