//! A minimal, non-executing reader for the pickle streams inside PyTorch checkpoints
//! (protocols 2–5), in the spirit of `torch.load(weights_only=True)`.
//!
//! Nothing is ever imported or called: `GLOBAL`/`STACK_GLOBAL` may only name the handful of
//! callables a `state_dict()` pickle uses (tensor rebuild functions, storage types, dtypes,
//! `OrderedDict`, `torch.Size`), and `REDUCE` on them builds a plain description (`TensorRef`)
//! that the container reader (`pth.rs`) resolves against the file's storage bytes. Everything else
//! is refused with an error naming it.
//!
//! Objects live in an arena addressed by index, so the memo shares objects the way Python does
//! (a list appended to after it was memoized is seen whole by a later `GET`), and the final
//! conversion to a `Value` tree is guarded against depth (cycles) and size (shared sub-objects
//! expanding exponentially). Every length is checked against the bytes actually present before
//! anything is allocated.
//!
//! Formats: <https://github.com/python/cpython/blob/main/Lib/pickletools.py> (opcodes),
//! <https://github.com/pytorch/pytorch/blob/main/torch/_utils.py> (`_rebuild_tensor_v2` and
//! friends), <https://github.com/pytorch/pytorch/blob/main/torch/_weights_only_unpickler.py>.

use std::collections::HashMap;
use std::path::Path;

use super::elem_type::ElemType;
use super::error::CheckpointError;

/// Deeper nesting than this is refused; real state dicts nest about six levels.
const MAX_DEPTH: usize = 64;

/// A decoded pickle object. Only what a state-dict pickle can contain.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer too wide for `i64`, as pickle stores it: little-endian two's complement.
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    /// Items in insertion order; a repeated key is kept repeated (the last one wins, as in Python).
    Dict(Vec<(Value, Value)>),
    /// A storage class (`torch.FloatStorage`) or dtype (`torch.float32`) global.
    ElemType(ElemType),
    /// What `BINPERSID` returned: the persistent id, for the container format to interpret.
    Persistent(Box<Value>),
    Tensor(TensorRef),
}

/// A tensor as `torch._utils._rebuild_tensor_v2` describes it: a strided view of a storage.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    /// The storage's persistent id (the tuple inside `Value::Persistent`).
    pub storage: Box<Value>,
    /// In elements.
    pub offset: usize,
    pub size: Vec<usize>,
    /// In elements; same length as `size`.
    pub stride: Vec<usize>,
}

impl Value {
    /// Python-ish type name, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::ElemType(_) => "storage type",
            Value::Persistent(_) => "storage",
            Value::Tensor(_) => "tensor",
        }
    }
}

/// Reads one pickle from the start of `bytes`; returns it and the offset just past its `STOP`,
/// where a following pickle (legacy `.pth` files hold several) begins. `path` only labels errors.
pub fn unpickle(bytes: &[u8], path: &Path) -> Result<(Value, usize), CheckpointError> {
    unpickle_with(bytes, path, false)
}

/// [`unpickle`] for the `data.pkl` of a TorchScript archive (`torch.jit.save`), which pickles
/// the module tree as objects of its compiled classes: `GLOBAL '__torch__.<module> <Class>'`,
/// `NEWOBJ` with no arguments, then `BUILD` with a dict of attributes. Such an object becomes
/// the dict of its attributes (submodules, tensors, ints, flags); the class is only a name and
/// nothing of it is run, as for every other global.
pub fn unpickle_script_module(bytes: &[u8], path: &Path) -> Result<Value, CheckpointError> {
    unpickle_with(bytes, path, true).map(|(v, _)| v)
}

fn unpickle_with(
    bytes: &[u8],
    path: &Path,
    script_objects: bool,
) -> Result<(Value, usize), CheckpointError> {
    let mut m = Machine {
        script_objects,
        bytes,
        pos: 0,
        op_pos: 0,
        path,
        objs: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    let (root, end) = m.run()?;
    // Sharing is legitimate, but each object may only be expanded a few times on average.
    let mut budget = m.objs.len().saturating_mul(8).saturating_add(64);
    Ok((m.to_value(root, 0, &mut budget)?, end))
}

type Id = usize;

#[derive(Debug, Clone, Copy)]
enum Callable {
    OrderedDict,
    Size,
    RebuildTensor,
    RebuildTensorV2,
    RebuildParameter,
    RebuildParameterWithState,
    /// `torch.jit._pickle.build_intlist` and its float/bool siblings (TorchScript archives
    /// only): typed lists such as a convolution's padding, rebuilt as the plain list they wrap.
    BuildList,
}

impl Callable {
    fn name(self) -> &'static str {
        match self {
            Callable::OrderedDict => "collections.OrderedDict",
            Callable::Size => "torch.Size",
            Callable::RebuildTensor => "torch._utils._rebuild_tensor",
            Callable::RebuildTensorV2 => "torch._utils._rebuild_tensor_v2",
            Callable::RebuildParameter => "torch._utils._rebuild_parameter",
            Callable::RebuildParameterWithState => "torch._utils._rebuild_parameter_with_state",
            Callable::BuildList => "torch.jit._pickle.build_intlist",
        }
    }
}

#[derive(Debug)]
enum Obj {
    None,
    Bool(bool),
    Int(i64),
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Id>),
    List(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    ElemType(ElemType),
    Callable(Callable),
    /// A TorchScript class (`__torch__.…`), by name.
    ScriptClass(String),
    /// An instance of one: its attributes, as `BUILD` set them.
    ScriptObject(Vec<(Id, Id)>),
    Persistent(Id),
    Tensor {
        storage: Id,
        offset: usize,
        size: Vec<usize>,
        stride: Vec<usize>,
    },
}

/// The only globals a state dict needs; anything else is refused by name.
fn resolve_global(module: &str, name: &str) -> Option<Obj> {
    let elem = |e| Some(Obj::ElemType(e));
    let call = |c| Some(Obj::Callable(c));
    match (module, name) {
        ("collections", "OrderedDict") => call(Callable::OrderedDict),
        ("torch", "Size") => call(Callable::Size),
        ("torch._utils", "_rebuild_tensor") => call(Callable::RebuildTensor),
        ("torch._utils", "_rebuild_tensor_v2") => call(Callable::RebuildTensorV2),
        ("torch._utils", "_rebuild_parameter") => call(Callable::RebuildParameter),
        ("torch._utils", "_rebuild_parameter_with_state") => {
            call(Callable::RebuildParameterWithState)
        }
        ("torch", "FloatStorage" | "float32") => elem(ElemType::F32),
        ("torch", "DoubleStorage" | "float64") => elem(ElemType::F64),
        ("torch", "HalfStorage" | "float16") => elem(ElemType::F16),
        ("torch", "BFloat16Storage" | "bfloat16") => elem(ElemType::BF16),
        ("torch", "LongStorage" | "int64") => elem(ElemType::I64),
        ("torch", "IntStorage" | "int32") => elem(ElemType::I32),
        ("torch", "ByteStorage" | "uint8") => elem(ElemType::U8),
        _ => None,
    }
}

struct Machine<'a> {
    /// Whether `__torch__.*` classes may be instantiated (TorchScript archives only).
    script_objects: bool,
    bytes: &'a [u8],
    pos: usize,
    /// Offset of the opcode being executed, for error messages.
    op_pos: usize,
    path: &'a Path,
    objs: Vec<Obj>,
    stack: Vec<Id>,
    /// Stack lengths at each MARK.
    marks: Vec<usize>,
    memo: HashMap<u32, Id>,
}

impl<'a> Machine<'a> {
    fn corrupt(&self, what: impl std::fmt::Display) -> CheckpointError {
        CheckpointError::Corrupt {
            path: self.path.into(),
            what: format!("pickle (byte {}): {what}", self.op_pos),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CheckpointError> {
        let slice = self
            .pos
            .checked_add(n)
            .and_then(|end| self.bytes.get(self.pos..end))
            .ok_or_else(|| CheckpointError::Truncated {
                path: self.path.into(),
                what: "pickle stream ends before its STOP opcode".into(),
            })?;
        self.pos += n;
        Ok(slice)
    }

    fn arr<const N: usize>(&mut self) -> Result<[u8; N], CheckpointError> {
        let s = self.take(N)?;
        s.try_into().map_err(|_| self.corrupt("short read"))
    }

    fn u8(&mut self) -> Result<u8, CheckpointError> {
        Ok(self.arr::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, CheckpointError> {
        Ok(u32::from_le_bytes(self.arr()?))
    }

    /// A length prefix of `N` bytes; checked against the data left before anyone allocates it.
    fn len<const N: usize>(&mut self) -> Result<usize, CheckpointError> {
        let mut b = [0u8; 8];
        b[..N].copy_from_slice(&self.arr::<N>()?);
        usize::try_from(u64::from_le_bytes(b)).map_err(|_| self.corrupt("length overflows"))
    }

    fn line(&mut self) -> Result<String, CheckpointError> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let n =
            rest.iter()
                .position(|&b| b == b'\n')
                .ok_or_else(|| CheckpointError::Truncated {
                    path: self.path.into(),
                    what: "pickle stream ends inside a GLOBAL opcode".into(),
                })?;
        let line = self.take(n + 1)?;
        Ok(String::from_utf8_lossy(&line[..n]).into_owned())
    }

    fn string(&mut self, n: usize) -> Result<Obj, CheckpointError> {
        let b = self.take(n)?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(Obj::Str(s.to_owned())),
            Err(_) => Err(self.corrupt("string is not valid UTF-8")),
        }
    }

    fn alloc(&mut self, obj: Obj) -> Id {
        self.objs.push(obj);
        self.objs.len() - 1
    }

    fn push(&mut self, obj: Obj) {
        let id = self.alloc(obj);
        self.stack.push(id);
    }

    fn pop(&mut self) -> Result<Id, CheckpointError> {
        // Like Python, never pop past the innermost MARK.
        if self.stack.len() <= self.marks.last().copied().unwrap_or(0) {
            return Err(self.corrupt("stack underflow"));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.corrupt("stack underflow"))
    }

    fn top(&self) -> Result<Id, CheckpointError> {
        self.stack
            .last()
            .copied()
            .ok_or_else(|| self.corrupt("stack underflow"))
    }

    fn pop_mark(&mut self) -> Result<Vec<Id>, CheckpointError> {
        let m = self.marks.pop().ok_or_else(|| self.corrupt("no MARK"))?;
        if m > self.stack.len() {
            return Err(self.corrupt("stack underflow"));
        }
        Ok(self.stack.split_off(m))
    }

    fn obj(&self, id: Id) -> Result<&Obj, CheckpointError> {
        self.objs
            .get(id)
            .ok_or_else(|| self.corrupt("bad object id"))
    }

    fn int_from_le(b: &[u8]) -> Obj {
        if b.len() > 8 {
            return Obj::BigInt(b.to_vec());
        }
        // Sign-extend from the top byte.
        let fill = if b.last().is_some_and(|&x| x & 0x80 != 0) {
            0xff
        } else {
            0
        };
        let mut w = [fill; 8];
        w[..b.len()].copy_from_slice(b);
        Obj::Int(i64::from_le_bytes(w))
    }

    fn run(&mut self) -> Result<(Id, usize), CheckpointError> {
        loop {
            self.op_pos = self.pos;
            match self.u8()? {
                0x80 => {
                    let proto = self.u8()?;
                    if !(2..=5).contains(&proto) {
                        return Err(self.corrupt(format!(
                            "pickle protocol {proto}; only protocols 2 to 5 are supported"
                        )));
                    }
                }
                0x95 => {
                    // FRAME: a length hint for buffered readers; the opcodes simply follow.
                    self.take(8)?;
                }
                b'.' => {
                    let root = self.pop()?;
                    return Ok((root, self.pos));
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let t = self.top()?;
                    self.stack.push(t);
                }
                b'N' => self.push(Obj::None),
                0x88 => self.push(Obj::Bool(true)),
                0x89 => self.push(Obj::Bool(false)),
                b'J' => {
                    let v = i32::from_le_bytes(self.arr()?);
                    self.push(Obj::Int(v.into()));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Obj::Int(v.into()));
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.arr()?);
                    self.push(Obj::Int(v.into()));
                }
                0x8a => {
                    let n = self.len::<1>()?;
                    let b = self.take(n)?;
                    self.push(Self::int_from_le(b));
                }
                0x8b => {
                    let n = self.len::<4>()?;
                    let b = self.take(n)?;
                    self.push(Self::int_from_le(b));
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.arr()?);
                    self.push(Obj::Float(v));
                }
                // Python 2 `str` (BINSTRING, SHORT_BINSTRING) is read as UTF-8, as torch.load does.
                b'X' | b'T' => {
                    let n = self.len::<4>()?;
                    let s = self.string(n)?;
                    self.push(s);
                }
                0x8c | b'U' => {
                    let n = self.len::<1>()?;
                    let s = self.string(n)?;
                    self.push(s);
                }
                0x8d => {
                    let n = self.len::<8>()?;
                    let s = self.string(n)?;
                    self.push(s);
                }
                op @ (b'B' | b'C' | 0x8e | 0x96) => {
                    let n = match op {
                        b'C' => self.len::<1>()?,
                        b'B' => self.len::<4>()?,
                        _ => self.len::<8>()?,
                    };
                    let b = self.take(n)?.to_vec();
                    self.push(Obj::Bytes(b));
                }
                b')' => self.push(Obj::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Obj::Tuple(items));
                }
                op @ 0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Obj::Tuple(items));
                }
                b']' => self.push(Obj::List(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Obj::List(items));
                }
                b'a' => {
                    let item = self.pop()?;
                    self.append(vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                b'}' => self.push(Obj::Dict(Vec::new())),
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    self.push(Obj::Dict(pairs));
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![(k, v)])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    self.set_items(pairs)?;
                }
                b'q' => {
                    let i = self.u8()?;
                    self.put(i.into())?;
                }
                b'r' => {
                    let i = self.u32()?;
                    self.put(i)?;
                }
                0x94 => {
                    let i =
                        u32::try_from(self.memo.len()).map_err(|_| self.corrupt("memo full"))?;
                    self.put(i)?;
                }
                b'h' => {
                    let i = self.u8()?;
                    self.get(i.into())?;
                }
                b'j' => {
                    let i = self.u32()?;
                    self.get(i)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(&module, &name)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (self.obj(module)?, self.obj(name)?) {
                        (Obj::Str(m), Obj::Str(n)) => {
                            let (m, n) = (m.clone(), n.clone());
                            self.global(&m, &n)?;
                        }
                        _ => return Err(self.corrupt("STACK_GLOBAL needs two strings")),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let result = self.reduce(func, args)?;
                    self.stack.push(result);
                }
                0x81 => {
                    // NEWOBJ: only a TorchScript class, with no arguments (see
                    // `unpickle_script_module`); anything else would construct a Python object.
                    let args = self.pop()?;
                    let class = self.pop()?;
                    match (self.obj(class)?, self.obj(args)?) {
                        (Obj::ScriptClass(_), Obj::Tuple(a)) if a.is_empty() => {
                            self.push(Obj::ScriptObject(Vec::new()))
                        }
                        (Obj::ScriptClass(c), _) => {
                            return Err(self.corrupt(format!("`{c}` constructed with arguments")));
                        }
                        _ => {
                            return Err(self.corrupt(
                                "NEWOBJ (constructing an object) outside a TorchScript archive",
                            ));
                        }
                    }
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    if matches!(self.obj(target)?, Obj::ScriptObject(_)) {
                        let Obj::Dict(items) = self.obj(state)? else {
                            return Err(self.corrupt("a TorchScript object's state is not a dict"));
                        };
                        let items = items.clone();
                        if let Some(Obj::ScriptObject(attrs)) = self.objs.get_mut(target) {
                            attrs.extend(items);
                        }
                        continue;
                    }
                    // The only BUILD a state dict has sets `OrderedDict._metadata` (per-module
                    // versions), which loading weights does not need.
                    let target = self.top()?;
                    if !matches!(self.obj(target)?, Obj::Dict(_)) {
                        return Err(self.corrupt("BUILD (setting object state) on a non-dict"));
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.push(Obj::Persistent(pid));
                }
                op => {
                    return Err(self.corrupt(format!(
                        "opcode 0x{op:02x} is not supported in a state-dict pickle"
                    )));
                }
            }
        }
    }

    fn put(&mut self, i: u32) -> Result<(), CheckpointError> {
        let top = self.top()?;
        self.memo.insert(i, top);
        Ok(())
    }

    fn get(&mut self, i: u32) -> Result<(), CheckpointError> {
        let id = *self
            .memo
            .get(&i)
            .ok_or_else(|| self.corrupt(format!("memo key {i} was never stored")))?;
        self.stack.push(id);
        Ok(())
    }

    fn global(&mut self, module: &str, name: &str) -> Result<(), CheckpointError> {
        if self.script_objects && (module == "__torch__" || module.starts_with("__torch__.")) {
            self.push(Obj::ScriptClass(format!("{module}.{name}")));
            return Ok(());
        }
        if self.script_objects
            && module == "torch.jit._pickle"
            && matches!(
                name,
                "build_intlist" | "build_doublelist" | "build_boollist"
            )
        {
            self.push(Obj::Callable(Callable::BuildList));
            return Ok(());
        }
        let obj = resolve_global(module, name).ok_or_else(|| CheckpointError::ForbiddenGlobal {
            path: self.path.into(),
            global: format!("{module}.{name}"),
        })?;
        self.push(obj);
        Ok(())
    }

    fn append(&mut self, items: Vec<Id>) -> Result<(), CheckpointError> {
        let target = self.top()?;
        if let Some(Obj::List(list)) = self.objs.get_mut(target) {
            list.extend(items);
            return Ok(());
        }
        Err(self.corrupt("APPEND to a non-list"))
    }

    fn pairs(&self, items: Vec<Id>) -> Result<Vec<(Id, Id)>, CheckpointError> {
        if !items.len().is_multiple_of(2) {
            return Err(self.corrupt("odd number of dict items"));
        }
        Ok(items.chunks_exact(2).map(|kv| (kv[0], kv[1])).collect())
    }

    fn set_items(&mut self, pairs: Vec<(Id, Id)>) -> Result<(), CheckpointError> {
        let target = self.top()?;
        if let Some(Obj::Dict(dict)) = self.objs.get_mut(target) {
            dict.extend(pairs);
            return Ok(());
        }
        Err(self.corrupt("SETITEM on a non-dict"))
    }

    fn usize_of(&self, id: Id) -> Option<usize> {
        match self.objs.get(id)? {
            Obj::Int(i) => usize::try_from(*i).ok(),
            _ => None,
        }
    }

    fn usizes(&self, id: Id) -> Option<Vec<usize>> {
        match self.objs.get(id)? {
            Obj::Tuple(items) => items.iter().map(|&i| self.usize_of(i)).collect(),
            _ => None,
        }
    }

    /// Applies one of the allowed callables; returns the id of the result.
    fn reduce(&mut self, func: Id, args: Id) -> Result<Id, CheckpointError> {
        let func = match self.obj(func)? {
            Obj::Callable(c) => *c,
            Obj::ElemType(_) => return Err(self.corrupt("a storage type is called")),
            _ => return Err(self.corrupt("REDUCE on something that is not a callable")),
        };
        let args = match self.obj(args)? {
            Obj::Tuple(a) => a.clone(),
            _ => return Err(self.corrupt("REDUCE arguments are not a tuple")),
        };
        let bad = |m: &Self| m.corrupt(format!("unexpected arguments to `{}`", func.name()));
        match (func, args.as_slice()) {
            (Callable::OrderedDict, []) => Ok(self.alloc(Obj::Dict(Vec::new()))),
            (Callable::BuildList, &[list]) if matches!(self.obj(list)?, Obj::List(_)) => Ok(list),
            (Callable::Size, &[dims]) if self.usizes(dims).is_some() => Ok(dims),
            (Callable::RebuildTensor, &[storage, offset, size, stride, ..])
            | (Callable::RebuildTensorV2, &[storage, offset, size, stride, ..]) => {
                // v2 adds requires_grad, backward_hooks and optional metadata, none of which
                // matter for weights; v1 has exactly four arguments.
                let ok_len = match func {
                    Callable::RebuildTensor => args.len() == 4,
                    _ => (6..=7).contains(&args.len()),
                };
                let storage = match self.obj(storage)? {
                    Obj::Persistent(pid) if ok_len => *pid,
                    _ => return Err(bad(self)),
                };
                let (Some(offset), Some(size), Some(stride)) = (
                    self.usize_of(offset),
                    self.usizes(size),
                    self.usizes(stride),
                ) else {
                    return Err(bad(self));
                };
                if size.len() != stride.len() {
                    return Err(self.corrupt("tensor size and stride differ in length"));
                }
                Ok(self.alloc(Obj::Tensor {
                    storage,
                    offset,
                    size,
                    stride,
                }))
            }
            (Callable::RebuildParameter, &[data, _, _])
            | (Callable::RebuildParameterWithState, &[data, _, _, _])
                if matches!(self.obj(data)?, Obj::Tensor { .. }) =>
            {
                Ok(data)
            }
            _ => Err(bad(self)),
        }
    }

    fn to_value(&self, id: Id, depth: usize, budget: &mut usize) -> Result<Value, CheckpointError> {
        if depth > MAX_DEPTH {
            return Err(self.corrupt(format!(
                "objects nested deeper than {MAX_DEPTH} levels (or a cycle)"
            )));
        }
        *budget = budget
            .checked_sub(1)
            .ok_or_else(|| self.corrupt("shared objects expand to an unreasonable size"))?;
        let mut conv = |i: Id| self.to_value(i, depth + 1, budget);
        Ok(match self.obj(id)? {
            Obj::None => Value::None,
            Obj::Bool(b) => Value::Bool(*b),
            Obj::Int(i) => Value::Int(*i),
            Obj::BigInt(b) => Value::BigInt(b.clone()),
            Obj::Float(f) => Value::Float(*f),
            Obj::Str(s) => Value::Str(s.clone()),
            Obj::Bytes(b) => Value::Bytes(b.clone()),
            Obj::Tuple(items) => {
                Value::Tuple(items.iter().map(|&i| conv(i)).collect::<Result<_, _>>()?)
            }
            Obj::List(items) => {
                Value::List(items.iter().map(|&i| conv(i)).collect::<Result<_, _>>()?)
            }
            Obj::Dict(items) => Value::Dict(
                items
                    .iter()
                    .map(|&(k, v)| Ok((conv(k)?, conv(v)?)))
                    .collect::<Result<_, CheckpointError>>()?,
            ),
            Obj::ElemType(e) => Value::ElemType(*e),
            Obj::Callable(c) => {
                return Err(self.corrupt(format!("global `{}` used as a value", c.name())));
            }
            Obj::ScriptClass(c) => {
                return Err(self.corrupt(format!("class `{c}` used as a value")));
            }
            Obj::ScriptObject(items) => Value::Dict(
                items
                    .iter()
                    .map(|&(k, v)| Ok((conv(k)?, conv(v)?)))
                    .collect::<Result<_, CheckpointError>>()?,
            ),
            Obj::Persistent(pid) => Value::Persistent(Box::new(conv(*pid)?)),
            Obj::Tensor {
                storage,
                offset,
                size,
                stride,
            } => Value::Tensor(TensorRef {
                storage: Box::new(conv(*storage)?),
                offset: *offset,
                size: size.clone(),
                stride: stride.clone(),
            }),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Assembles pickle bytes opcode by opcode, the way `torch.save` (protocol 2) writes them.
    #[derive(Default)]
    pub(crate) struct P(pub Vec<u8>);

    impl P {
        pub fn new() -> Self {
            P(vec![0x80, 2])
        }
        pub fn op(mut self, b: &[u8]) -> Self {
            self.0.extend_from_slice(b);
            self
        }
        pub fn str(self, s: &str) -> Self {
            let n = (s.len() as u32).to_le_bytes();
            self.op(b"X").op(&n).op(s.as_bytes())
        }
        pub fn int(self, i: i64) -> Self {
            match i32::try_from(i) {
                Ok(v) => self.op(b"J").op(&v.to_le_bytes()),
                Err(_) => self.op(&[0x8a, 8]).op(&i.to_le_bytes()),
            }
        }
        pub fn global(self, module: &str, name: &str) -> Self {
            self.op(b"c")
                .op(module.as_bytes())
                .op(b"\n")
                .op(name.as_bytes())
                .op(b"\n")
        }
        pub fn ints(self, v: &[i64]) -> Self {
            v.iter().fold(self.op(b"("), |p, &i| p.int(i)).op(b"t")
        }
        pub fn empty_ordered_dict(self) -> Self {
            self.global("collections", "OrderedDict").op(b")R")
        }
        /// `_rebuild_tensor_v2(<persistent id pushed by pid>, offset, size, stride, False, OrderedDict())`
        pub fn tensor(
            self,
            pid: impl FnOnce(P) -> P,
            offset: i64,
            size: &[i64],
            stride: &[i64],
        ) -> Self {
            let p = self.global("torch._utils", "_rebuild_tensor_v2").op(b"(");
            pid(p)
                .op(b"Q")
                .int(offset)
                .ints(size)
                .ints(stride)
                .op(&[0x89])
                .empty_ordered_dict()
                .op(b"tR")
        }
        pub fn stop(self) -> Vec<u8> {
            self.op(b".").0
        }
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn load(b: &[u8]) -> Result<Value, CheckpointError> {
        unpickle(b, Path::new("t.pkl")).map(|(v, _)| v)
    }

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    fn expected_plain(with_bytes: bool) -> Value {
        let mut items = vec![
            (s("a"), Value::Int(1)),
            (
                s("b"),
                Value::List(vec![
                    Value::Float(1.5),
                    s("x"),
                    Value::None,
                    Value::Bool(true),
                    Value::Bool(false),
                ]),
            ),
            (
                s("c"),
                Value::Tuple(vec![Value::Int(1), Value::Int(2), Value::Int(3)]),
            ),
            (s("neg"), Value::Int(-70000)),
            (s("big"), Value::Int(1 << 40)),
        ];
        if with_bytes {
            items.push((s("bytes"), Value::Bytes(vec![0, 1])));
        }
        Value::Dict(items)
    }

    #[test]
    fn reads_pickles_written_by_python() {
        // pickle.dumps({'a': 1, 'b': [1.5, 'x', None, True, False], 'c': (1, 2, 3),
        //               'neg': -70000, 'big': 2**40}, protocol=2)   (CPython 3.11)
        let p2 = hex(
            "80027d71002858010000006171014b0158010000006271025d710328473ff800000000000058010000007871\
             044e88896558010000006371054b014b024b0387710658030000006e656771074a90eefeff5803000000626967\
             71088a06000000000001752e",
        );
        assert_eq!(load(&p2).unwrap(), expected_plain(false));
        // The same with 'bytes': b'\x00\x01' added, protocol=5 (FRAME, MEMOIZE, short opcodes).
        let p5 = hex(
            "80059555000000000000007d94288c0161944b018c0162945d9428473ff80000000000008c0178944e888965\
             8c0163944b014b024b0387948c036e6567944a90eefeff8c03626967948a060000000000018c056279746573\
             944302000194752e",
        );
        assert_eq!(load(&p5).unwrap(), expected_plain(true));
    }

    #[test]
    fn refuses_foreign_globals_by_name() {
        let forbidden = |b: &[u8]| match load(b) {
            Err(CheckpointError::ForbiddenGlobal { global, .. }) => global,
            other => panic!("expected ForbiddenGlobal, got {other:?}"),
        };
        // The classic exploit: os.system('echo pwned')
        let exploit = P::new()
            .global("os", "system")
            .str("echo pwned")
            .op(&[0x85])
            .op(b"R")
            .stop();
        assert_eq!(forbidden(&exploit), "os.system");
        let stack_global = P(vec![0x80, 4])
            .str("builtins")
            .str("eval")
            .op(&[0x93])
            .stop();
        assert_eq!(forbidden(&stack_global), "builtins.eval");
        // Python 2-protocol `bytes` go through _codecs.encode, which a state dict never needs.
        let p2_bytes = hex(
            "8002635f636f646563730a656e636f64650a710058020000000001710158060000006c6174696e317102867103\
             5271042e",
        );
        assert_eq!(forbidden(&p2_bytes), "_codecs.encode");
    }

    #[test]
    fn ordered_dict_with_metadata_build_is_read_as_its_items() {
        let metadata = |p: P| {
            p.op(b"}")
                .str("_metadata")
                .empty_ordered_dict()
                .str("")
                .op(b"}")
                .str("version")
                .int(1)
                .op(b"s")
                .op(b"s")
                .op(b"s")
        };
        // state_dict() pickles as OrderedDict() + SETITEMS + BUILD({'_metadata': ...}).
        let after = metadata(
            P::new()
                .empty_ordered_dict()
                .op(b"(")
                .str("w")
                .int(3)
                .op(b"u"),
        )
        .op(b"b")
        .stop();
        let before = metadata(P::new().empty_ordered_dict())
            .op(b"b(")
            .str("w")
            .int(3)
            .op(b"u")
            .stop();
        for b in [after, before] {
            assert_eq!(
                load(&b).unwrap(),
                Value::Dict(vec![(s("w"), Value::Int(3))])
            );
        }
        // State on anything but a dict is not something a state dict has.
        let build_on_list = P::new().op(b"]}b").stop();
        assert!(load(&build_on_list).is_err());
    }

    #[test]
    fn memo_shares_objects_like_python() {
        // l = []; memo[0] = l; l.append(7); (l, memo[0])  →  ([7], [7]), not ([7], [])
        let b = P::new()
            .op(b"]q\x00")
            .int(7)
            .op(b"ah\x00")
            .op(&[0x86])
            .stop();
        let l = Value::List(vec![Value::Int(7)]);
        assert_eq!(load(&b).unwrap(), Value::Tuple(vec![l.clone(), l]));
    }

    #[test]
    fn cycles_and_exponential_sharing_are_refused() {
        let cycle = P::new().op(b"]q\x00h\x00a").stop();
        assert!(matches!(load(&cycle), Err(CheckpointError::Corrupt { .. })));
        // t = (); 60 times: t = (t, t)  → 2^60 nodes if expanded naively.
        let mut p = P::new().op(b")");
        for _ in 0..60 {
            p = p.op(&[b'2', 0x86]);
        }
        assert!(matches!(
            load(&p.stop()),
            Err(CheckpointError::Corrupt { .. })
        ));
        // 10 000 nested lists: deep, but cheap to refuse.
        let deep = P::new()
            .op(&b"]".repeat(10_000))
            .op(&b"a".repeat(9_999))
            .stop();
        assert!(load(&deep).is_err());
    }

    #[test]
    fn integers_of_every_width() {
        assert_eq!(
            load(&P::new().op(&[0x8a, 0]).stop()).unwrap(),
            Value::Int(0)
        );
        assert_eq!(
            load(&P::new().op(&[0x8a, 1, 0xff]).stop()).unwrap(),
            Value::Int(-1)
        );
        assert_eq!(
            load(&P::new().op(&[0x8a, 2, 0xff, 0x00]).stop()).unwrap(),
            Value::Int(255)
        );
        assert_eq!(load(&P::new().int(-5).stop()).unwrap(), Value::Int(-5));
        // torch.save's legacy magic number, 0x1950a86a20f9469cfc6c, is wider than i64.
        let magic = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
        let b = P::new().op(&[0x8a, 10]).op(&magic).stop();
        assert_eq!(load(&b).unwrap(), Value::BigInt(magic.to_vec()));
    }

    #[test]
    fn returns_the_offset_after_stop_for_concatenated_pickles() {
        let first = P::new().int(1001).stop();
        let second = P::new().str("next").stop();
        let both = [first.clone(), second].concat();
        let (v, end) = unpickle(&both, Path::new("t")).unwrap();
        assert_eq!((v, end), (Value::Int(1001), first.len()));
        let (v, _) = unpickle(&both[end..], Path::new("t")).unwrap();
        assert_eq!(v, s("next"));
    }

    fn zip_pid(p: P) -> P {
        p.op(b"(")
            .str("storage")
            .global("torch", "FloatStorage")
            .str("0")
            .str("cpu")
            .int(12)
            .op(b"t")
    }

    #[test]
    fn rebuild_tensor_v2_becomes_a_tensor_ref() {
        let b = P::new().tensor(zip_pid, 2, &[3, 2], &[1, 3]).stop();
        let pid = Value::Tuple(vec![
            s("storage"),
            Value::ElemType(ElemType::F32),
            s("0"),
            s("cpu"),
            Value::Int(12),
        ]);
        let want = Value::Tensor(TensorRef {
            storage: Box::new(pid),
            offset: 2,
            size: vec![3, 2],
            stride: vec![1, 3],
        });
        assert_eq!(load(&b).unwrap(), want);
        // nn.Parameter wraps the same tensor.
        let param = P::new()
            .global("torch._utils", "_rebuild_parameter")
            .op(b"(")
            .tensor(zip_pid, 2, &[3, 2], &[1, 3])
            .op(&[0x88])
            .empty_ordered_dict()
            .op(b"tR")
            .stop();
        assert_eq!(load(&param).unwrap(), want);
    }

    #[test]
    fn malformed_tensor_arguments_are_refused() {
        let cases = [
            P::new().tensor(zip_pid, -1, &[3], &[1]).stop(),
            P::new().tensor(zip_pid, 0, &[3, 2], &[1]).stop(),
            P::new().tensor(zip_pid, 0, &[-3], &[1]).stop(),
            // A storage that is not a persistent id.
            P::new()
                .global("torch._utils", "_rebuild_tensor_v2")
                .op(b"(")
                .int(5)
                .int(0)
                .ints(&[1])
                .ints(&[1])
                .op(&[0x89])
                .empty_ordered_dict()
                .op(b"tR")
                .stop(),
            P::new().global("torch", "FloatStorage").op(b")R").stop(),
        ];
        for b in cases {
            assert!(
                matches!(load(&b), Err(CheckpointError::Corrupt { .. })),
                "{b:?}"
            );
        }
    }

    #[test]
    fn every_truncation_and_junk_is_an_error_not_a_panic() {
        let full = P::new()
            .empty_ordered_dict()
            .op(b"(")
            .str("w")
            .tensor(zip_pid, 0, &[2, 2], &[2, 1])
            .op(b"u")
            .stop();
        assert!(load(&full).is_ok());
        for cut in 0..full.len() {
            assert!(load(&full[..cut]).is_err(), "prefix of {cut} bytes");
        }
        let mut x: u32 = 12345;
        for _ in 0..2000 {
            let mut b = full.clone();
            for _ in 0..3 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let i = x as usize % b.len();
                b[i] = (x >> 8) as u8;
            }
            let _ = load(&b);
        }
        // Huge declared lengths fail on the bytes present, before allocating.
        let huge = P::new().op(&[0x8d]).op(&u64::MAX.to_le_bytes()).stop();
        assert!(matches!(
            load(&huge),
            Err(CheckpointError::Truncated { .. }) | Err(CheckpointError::Corrupt { .. })
        ));
        assert!(matches!(
            load(b"hello"),
            Err(CheckpointError::Corrupt { .. })
        ));
    }
}
