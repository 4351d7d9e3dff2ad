//! Winograd-transformed weights shared by the calls of one network in a training step.
//!
//! CycleGAN's step runs G_A twice with the same weights (on [real_A, real_B], then on fake_A
//! once G_B has made it), and each call transforms every 3×3 weight (9.4 MB for a 256-channel
//! layer, four times the weight) for its forward pass and, turned 180°, for its input
//! gradient. While a [`SharedWeights`] is alive, the forward transforms of tracked weights are
//! kept and found again by the weight's autodiff node (an id never reused); a weight whose
//! forward transform was found again keeps its turned transform in the backward pass too,
//! until its second use. Calls inside [`used_once`] keep nothing, so a network called once
//! costs no memory.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::scratch::Scratch;

#[derive(Default)]
struct State {
    /// Keep forward transforms made now (false inside `used_once` and after `end_forward`).
    keep: bool,
    forward: HashMap<u64, Arc<Scratch>>,
    turned: HashMap<u64, Arc<Scratch>>,
    /// Weights whose forward transform was used twice.
    reused: HashSet<u64>,
}

thread_local! {
    /// The sharing active on this thread, if any: a step's forward and backward passes run
    /// their convolutions on the thread that drives them (the kernels' own threads come
    /// after the lookup), and steps on other threads share nothing with it.
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn with<R>(f: impl FnOnce(&mut Option<State>) -> R) -> R {
    STATE.with_borrow_mut(f)
}

/// While alive, Winograd weight transforms are shared between the calls made on this thread
/// (see the module). One at a time per thread; dropping it frees what it kept.
pub struct SharedWeights {
    /// Not Send: the sharing belongs to the thread that began it.
    _thread: std::marker::PhantomData<*const ()>,
}

impl SharedWeights {
    /// Starts sharing, with forward transforms kept.
    ///
    /// # Panics
    /// If another one is alive.
    pub fn begin() -> Self {
        with(|s| {
            assert!(s.is_none(), "one SharedWeights at a time on a thread");
            *s = Some(State {
                keep: true,
                ..State::default()
            });
        });
        SharedWeights {
            _thread: std::marker::PhantomData,
        }
    }

    /// The forward passes are over: frees the forward transforms, and keeps turned ones only
    /// for the weights whose forward transform was used twice.
    pub fn end_forward(&self) {
        with(|s| {
            if let Some(s) = s.as_mut() {
                s.keep = false;
                s.forward.clear();
            }
        });
    }
}

impl Drop for SharedWeights {
    fn drop(&mut self) {
        with(|s| *s = None);
    }
}

/// `f()`, keeping none of the forward transforms it makes: for a network called once.
pub fn used_once<R>(f: impl FnOnce() -> R) -> R {
    let was = with(|s| s.as_mut().map(|s| std::mem::replace(&mut s.keep, false)));
    let out = f();
    with(|s| {
        if let (Some(was), Some(s)) = (was, s.as_mut()) {
            s.keep = was;
        }
    });
    out
}

/// The forward transform of the weight with autodiff node `id`: the kept one, or `make()`'s
/// (kept while sharing keeps).
pub(super) fn forward_weights(id: u64, make: impl FnOnce() -> Scratch) -> Arc<Scratch> {
    let found = with(|s| {
        let s = s.as_mut()?;
        let u = s.forward.get(&id)?.clone();
        s.reused.insert(id);
        Some(u)
    });
    if let Some(u) = found {
        return u;
    }
    let u = Arc::new(make());
    with(|s| {
        if let Some(s) = s.as_mut().filter(|s| s.keep) {
            s.forward.insert(id, u.clone());
        }
    });
    u
}

/// The turned transform of the weight with autodiff node `id`: kept from its first use when
/// its forward transform was used twice, and given up at its second.
pub(super) fn turned_weights(id: u64, make: impl FnOnce() -> Scratch) -> Arc<Scratch> {
    if let Some(u) = with(|s| s.as_mut()?.turned.remove(&id)) {
        return u;
    }
    let u = Arc::new(make());
    with(|s| {
        if let Some(s) = s.as_mut().filter(|s| s.reused.contains(&id)) {
            s.turned.insert(id, u.clone());
        }
    });
    u
}

#[cfg(test)]
mod tests {
    use super::super::scratch;
    use super::*;

    /// How many times `make` ran for each call of a sequence, with the given weight ids.
    fn made(f: impl FnOnce(&mut dyn FnMut(bool, u64) -> bool)) {
        let mut call = |turned: bool, id: u64| {
            let mut ran = false;
            let make = || {
                ran = true;
                scratch::take(4)
            };
            if turned {
                turned_weights(id, make);
            } else {
                forward_weights(id, make);
            }
            ran
        };
        f(&mut call);
    }

    #[test]
    fn shares_between_the_calls_of_one_network_only_while_alive() {
        made(|call| {
            // Without sharing every call transforms.
            assert!(call(false, 1) && call(false, 1) && call(true, 1) && call(true, 1));
            let shared = SharedWeights::begin();
            // G_A's first call, G_B's only one, G_A's second.
            assert!(call(false, 10));
            assert!(used_once(|| call(false, 20)));
            assert!(!call(false, 10), "found again");
            assert!(call(false, 20), "a weight used once is not kept");
            shared.end_forward();
            assert!(
                call(false, 10),
                "forward transforms are freed after the forward passes"
            );
            // The backward pass: G_A's turned transform is kept for its second use only;
            // G_B's is not kept.
            assert!(call(true, 10));
            assert!(call(true, 20));
            assert!(!call(true, 10), "found again");
            assert!(call(true, 10), "given up at its second use");
            assert!(call(true, 20));
            drop(shared);
            assert!(
                call(false, 10) && call(false, 10),
                "dropping ends the sharing"
            );
        });
    }
}
