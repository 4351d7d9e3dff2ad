//! A raw pointer that rayon tasks may share, for kernels whose tasks write disjoint parts of
//! one output buffer (which `&mut` slices cannot express when the parts interleave).

/// A raw pointer (`*mut T` or `*const T`) that may cross threads.
///
/// Moving the pointer is harmless on its own; what crosses threads is the access through it,
/// which is `unsafe` at every use. Each such use states why its task's reads and writes do not
/// race: the tasks given one pointer write disjoint elements or only read, and are joined
/// before the owner touches the data again. What the wrapper itself must add is that the
/// pointee may be reached from another thread at all: written there (`T: Send`) and read
/// there while others read it too (`T: Sync`). Hence the bounds.
#[derive(Clone, Copy)]
pub(super) struct SendPtr<P>(pub(super) P);

// SAFETY: a `*mut T` or `*const T` is an address; sending it or sharing a copy lets other
// threads access `T` only through `unsafe` dereferences, each of which states its
// disjointness, and `T: Send + Sync` makes such access from another thread sound.
unsafe impl<T: Send + Sync> Send for SendPtr<*mut T> {}
// SAFETY: as for `Send`: sharing `&SendPtr` hands out only copies of the address.
unsafe impl<T: Send + Sync> Sync for SendPtr<*mut T> {}
// SAFETY: as for `*mut T`; through a `*const T` the threads only read.
unsafe impl<T: Send + Sync> Send for SendPtr<*const T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for SendPtr<*const T> {}

impl<P: Copy> SendPtr<P> {
    /// Through a method, so that closures capture the whole (Send) wrapper, not its field.
    pub(super) fn get(self) -> P {
        self.0
    }
}
