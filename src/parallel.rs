//! Work on a notebook's cells spread over the machine's cores, for the passes where each cell
//! stands alone (cleaning its magics, parsing it), for skimming a big file and for rendering
//! the files: the results come back in the items' order, so what follows cannot tell it from
//! a loop.
//!
//! The helper threads are one rayon pool, started once per process (by [`start_helpers`],
//! which `main` calls while the worker starts and reads the notebook): a conversion spreads
//! half a dozen passes of a few milliseconds each, and starting threads for each pass cost
//! about a tenth of a millisecond every time, with fresh stacks and allocator heaps to fault
//! in.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread;

/// Fewer items of work than this (bytes of code, say) are done on the calling thread: handing
/// work to a helper and waiting for it costs about as much as parsing a kilobyte of Python.
pub const WORTH_A_THREAD: usize = 32 * 1024;

/// More threads than this gain nothing on a notebook, whose passes take milliseconds.
const MAX_THREADS: usize = 4;

/// The stack of every thread that parses or walks a cell. `python::limits` keeps every syntax
/// tree shallow before the recursive parser and visitors see it; this much stack (reserved,
/// only touched as used) is the margin that keeps a debug build within them too.
pub const STACK_BYTES: usize = 256 * 1024 * 1024;

/// How many threads work can be spread over: one per core, up to [`MAX_THREADS`]. Asked of the
/// system once (Linux answers from the process's cgroup files, tens of microseconds).
pub fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| {
        thread::available_parallelism()
            .map_or(1, NonZeroUsize::get)
            .min(MAX_THREADS)
    })
}

/// The helper threads, one per core but the caller's; `None` on one core, or when no thread
/// could be started (the work then runs on the calling thread).
fn helpers() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let helpers = cores() - 1;
        if helpers == 0 {
            return None;
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(helpers)
            .stack_size(STACK_BYTES)
            .thread_name(|index| format!("nb2svc-helper-{index}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// Starts the helper threads now rather than when the first pass needs them, so that a thread
/// with nothing else to do pays for starting them.
pub fn start_helpers() {
    helpers();
}

/// How many threads `items` items weighing `size` in all are worth, the calling one included.
fn threads_for(items: usize, size: usize) -> usize {
    if size < 2 * WORTH_A_THREAD {
        return 1;
    }
    cores().min(size / WORTH_A_THREAD).min(items)
}

/// `work` of every item, in the items' order. When `size` (what the items weigh, in whatever
/// unit `WORTH_A_THREAD` is compared with) is large enough, threads up to one per core take
/// the items one at a time, the next unclaimed one each time, so that a few heavy items end
/// up on different threads; otherwise, or when there are no helper threads, all run on the
/// calling thread. [`produce_and_consume_in_order`] with nothing to consume.
pub fn map_in_order<'a, T, R, F>(items: &'a [T], size: usize, work: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&'a T) -> R + Sync,
{
    produce_and_consume_in_order(items, size, work, |_| {})
}

/// `produce` of every item, in the items' order, while the calling thread hands each result to
/// `consume` in that order as soon as it and every one before it are there: a pass that must
/// go from item to item (each cell inheriting what the cells before it leave) runs alongside
/// the work that readies the items. Helper threads (when `size` is worth them, as for
/// [`map_in_order`]) take items from the front; the calling thread consumes, and whenever the
/// next result is not ready, it takes the next unclaimed item itself rather than wait. A panic
/// in a helper is passed on to the caller, as in a loop.
pub fn produce_and_consume_in_order<'a, T, P, F, C>(
    items: &'a [T],
    size: usize,
    produce: F,
    mut consume: C,
) -> Vec<P>
where
    T: Sync,
    P: Send,
    F: Fn(&'a T) -> P + Sync,
    C: FnMut(&P),
{
    let next = AtomicUsize::new(0);
    let claim = || next.fetch_add(1, Ordering::Relaxed);
    let helping = threads_for(items.len(), size).saturating_sub(1);
    let pool = helpers().filter(|_| helping > 0);
    let Some(pool) = pool else {
        return items
            .iter()
            .map(|item| {
                let result = produce(item);
                consume(&result);
                result
            })
            .collect();
    };
    let produce = &produce;
    let claim = &claim;
    let results = pool.in_place_scope(|scope| {
        let (sender, ready) = std::sync::mpsc::channel::<(usize, P)>();
        for _ in 0..helping {
            let sender = sender.clone();
            scope.spawn(move |_| loop {
                let index = claim();
                let Some(item) = items.get(index) else { break };
                if sender.send((index, produce(item))).is_err() {
                    break;
                }
            });
        }
        // Only the helpers hold senders now: a closed channel means every one has stopped.
        drop(sender);
        let mut results: Vec<Option<P>> = items.iter().map(|_| None).collect();
        for index in 0..items.len() {
            while results[index].is_none() {
                if let Ok((done, result)) = ready.try_recv() {
                    results[done] = Some(result);
                    continue;
                }
                let claimed = claim();
                if let Some(item) = items.get(claimed) {
                    results[claimed] = Some(produce(item));
                    continue;
                }
                match ready.recv() {
                    Ok((done, result)) => results[done] = Some(result),
                    // A helper stopped without sending what it claimed: it panicked, and the
                    // scope passes the panic on as it ends.
                    Err(_) => return None,
                }
            }
            if let Some(result) = &results[index] {
                consume(result);
            }
        }
        Some(results.into_iter().flatten().collect())
    });
    results
        .expect("a helper stops without its result only when it panics, which the scope passes on")
}

/// Frees `value` on a helper thread, when freeing it is worth one: a large notebook's syntax
/// trees and facts take a few percent of a conversion to free, work that needs no answer,
/// and by the time they are done with the other cores are idle. Otherwise, the value is freed
/// here.
pub fn drop_in_background<T: Send + 'static>(value: T, size: usize) {
    if size >= 2 * WORTH_A_THREAD {
        drop_on_a_helper(value);
    }
}

/// Frees `value` on a helper thread, or here when there are none. A process that exits first
/// does not wait for it; the memory goes back with the process.
pub fn drop_on_a_helper<T: Send + 'static>(value: T) {
    if let Some(pool) = helpers() {
        pool.spawn(move || drop(value));
    }
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
        if cores() > 1 {
            assert_ne!(on, caller, "large values are freed on another thread");
        }
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
        let cores = thread::available_parallelism().map_or(1, NonZeroUsize::get);
        let expected = cores.min(MAX_THREADS);
        // Each thread holds its first item until every thread has one, so that none can take
        // all the items before the others start.
        let started = std::sync::Mutex::new(std::collections::HashSet::new());
        let ids = map_in_order(&items, 100 * WORTH_A_THREAD, |_| {
            let on = std::thread::current().id();
            if started.lock().unwrap().insert(on) {
                while started.lock().unwrap().len() < expected {
                    std::thread::yield_now();
                }
            }
            on
        });
        let distinct: std::collections::HashSet<_> = ids.into_iter().collect();
        assert_eq!(distinct.len(), expected);
    }

    #[test]
    fn items_are_consumed_in_order_as_they_are_produced_on_several_threads() {
        let items: Vec<usize> = (0..200).collect();
        let mut consumed = Vec::new();
        let caller = std::thread::current().id();
        // Helpers hold on to their first item until the caller has produced one: the caller
        // finds its next result missing and takes an item itself, however the threads run.
        let caller_produced = std::sync::atomic::AtomicBool::new(false);
        let produced = produce_and_consume_in_order(
            &items,
            100 * WORTH_A_THREAD,
            |i| {
                let on = std::thread::current().id();
                if on == caller {
                    caller_produced.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                while !caller_produced.load(std::sync::atomic::Ordering::SeqCst) {
                    std::thread::yield_now();
                }
                (i * i, on)
            },
            |(square, _)| consumed.push(*square),
        );
        let squares: Vec<usize> = items.iter().map(|i| i * i).collect();
        assert_eq!(consumed, squares);
        assert_eq!(
            produced.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            squares
        );
        assert!(
            produced.iter().any(|(_, on)| *on == caller),
            "the consuming thread produces too"
        );
    }

    #[test]
    fn a_small_pass_is_produced_and_consumed_on_the_calling_thread() {
        let caller = std::thread::current().id();
        let mut consumed = 0;
        let produced = produce_and_consume_in_order(
            &[1, 2, 3],
            0,
            |_| std::thread::current().id(),
            |_| consumed += 1,
        );
        assert_eq!(consumed, 3);
        assert!(produced.iter().all(|id| *id == caller));
    }

    #[test]
    fn a_panic_while_producing_on_a_helper_reaches_the_caller() {
        if thread::available_parallelism().map_or(1, NonZeroUsize::get) < 2 {
            return; // one core: no helper, nothing to test
        }
        let items: Vec<usize> = (0..64).collect();
        let caller = std::thread::current().id();
        // The caller waits for a helper to fail before it produces anything, so that the
        // helper's item is one the caller needs.
        let helper_failed = std::sync::atomic::AtomicBool::new(false);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            produce_and_consume_in_order(
                &items,
                100 * WORTH_A_THREAD,
                |i| {
                    if std::thread::current().id() != caller {
                        helper_failed.store(true, std::sync::atomic::Ordering::SeqCst);
                        panic!("helper failed on {i}");
                    }
                    while !helper_failed.load(std::sync::atomic::Ordering::SeqCst) {
                        std::thread::yield_now();
                    }
                    *i
                },
                |_| {},
            )
        }));
        assert!(outcome.is_err());
    }

    #[test]
    fn a_few_items_stay_on_the_calling_thread() {
        let caller = std::thread::current().id();
        let ids = map_in_order(&[1, 2, 3], WORTH_A_THREAD, |_| std::thread::current().id());
        assert!(ids.iter().all(|id| *id == caller));
    }
}
