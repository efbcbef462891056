# Contexts, tensor headers, threadpools and graph execution: raw access for tensor.py/graph.py.
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset, strncpy
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE, PyBUF_WRITABLE


cdef class CContext:
    """Owns a pg_context arena; freed when the last reference goes."""
    cdef pg_context *ptr
    cdef readonly size_t mem_size
    cdef readonly bint no_alloc

    def __cinit__(self, size_t mem_size, bint no_alloc):
        self.ptr = pg_context_new(mem_size, no_alloc)
        if self.ptr == NULL:
            raise MemoryError(f"cannot allocate a context of {mem_size} bytes")
        self.mem_size = mem_size
        self.no_alloc = no_alloc

    def __dealloc__(self):
        pg_context_free(self.ptr)

    @property
    def used(self):
        return pg_context_used(self.ptr)


cdef class CTensor:
    """A pg_tensor header living in a CContext arena. `keepalive` pins whatever owns the data
    (an mmap, a numpy buffer) for as long as the tensor exists."""
    cdef pg_tensor *t
    cdef readonly CContext ctx
    cdef public object keepalive
    cdef public object repacked_keepalive   # the buffer t.repacked points into
    cdef public object py          # the Python-level Tensor wrapping this header

    @property
    def address(self):
        return <size_t>self.t

    @property
    def type(self):
        return self.t.type

    @property
    def op(self):
        return self.t.op

    @property
    def ne(self):
        return (self.t.ne[0], self.t.ne[1], self.t.ne[2], self.t.ne[3])

    @property
    def nb(self):
        return (self.t.nb[0], self.t.nb[1], self.t.nb[2], self.t.nb[3])

    @property
    def data(self):
        return <size_t>self.t.data

    @property
    def view_offs(self):
        return self.t.view_offs

    @property
    def nbytes(self):
        return pg_nbytes(self.t)

    @property
    def is_contiguous(self):
        return bool(pg_is_contiguous(self.t))

    def get_name(self):
        return self.t.name.decode("utf-8", "replace")

    def set_name(self, name):
        cdef bytes b = name.encode()[:PG_MAX_NAME - 1]
        memset(self.t.name, 0, PG_MAX_NAME)
        memcpy(self.t.name, <char *>b, len(b))

    def set_data(self, size_t address, keepalive):
        self.t.data = <void *>address
        self.keepalive = keepalive

    @property
    def repacked(self):
        return <size_t>self.t.repacked

    def set_repacked(self, buffer):
        """Point mul_mat's repacked kernels at `buffer` (a uint8 numpy array filled by
        repack_x8 from this tensor's data), kept alive with the tensor; None: no copy."""
        self.t.repacked = NULL if buffer is None else <const void *><size_t>buffer.ctypes.data
        self.repacked_keepalive = buffer

    def set_op(self, int op, srcs, params):
        """srcs: sequence of CTensor or None (<= 4); params: sequence of int32 (<= 16)."""
        cdef int i
        cdef CTensor s
        self.t.op = op
        for i in range(PG_MAX_SRC):
            self.t.src[i] = NULL
        for i, src in enumerate(srcs):
            if src is not None:
                s = <CTensor>src
                self.t.src[i] = s.t
        for i, v in enumerate(params):
            self.t.op_params[i] = v

    def set_view(self, CTensor src, size_t offs):
        self.t.view_src = src.t
        self.t.view_offs = offs

    def op_params(self):
        return [self.t.op_params[i] for i in range(PG_MAX_OP_PARAMS)]


def active_path_reads_repacked(int type):
    """Whether the active SIMD path's mul_mat reads weights of this type repacked by 8 rows."""
    return pg_active_kernels != NULL and pg_active_kernels.vec_dot_tile_x8[type] != NULL


def repack_x8(int type, size_t src, size_t row_bytes, uint8_t[::1] dst, int64_t n_rows, int64_t k):
    """Rows of a repackable type (Q4_0, Q4_1, Q5_0, Q4_K) at src, row_bytes apart, into dst repacked by 8 rows
    (csrc/quants/repack.c)."""
    cdef int rc
    if not pg_repack_x8_supported(type):
        raise ValueError(f"repack_x8: type {type} has no repacked layout")
    if k < 0 or n_rows < 0 or <size_t>dst.shape[0] < <size_t>n_rows * pg_row_size(type, k):
        raise ValueError(f"repack_x8: {dst.shape[0]} bytes for {n_rows} rows of {k}")
    with nogil:
        rc = pg_repack_x8(type, <const void *>src, row_bytes, &dst[0], n_rows, k)
    if rc:
        raise ValueError(f"repack_x8: {n_rows} rows of {k} elements cannot be repacked by 8")


def new_tensor(CContext ctx, int type, ne, nb, bint alloc):
    """A tensor header with the given shape/strides; data from the arena if alloc."""
    cdef int64_t cne[4]
    cdef size_t cnb[4]
    cdef int i
    cdef CTensor out = CTensor.__new__(CTensor)
    for i in range(4):
        cne[i] = ne[i]
        cnb[i] = nb[i]
    if alloc:
        out.t = pg_new_tensor(ctx.ptr, type, 4, cne)
    else:
        out.t = pg_new_tensor_header(ctx.ptr, type, cne, cnb)
    if out.t == NULL:
        raise MemoryError(f"context full ({ctx.used} of {ctx.mem_size} bytes used): "
                          f"create the Context with a larger mem_size")
    out.ctx = ctx
    return out


cdef class ThreadPool:
    """Persistent worker threads; joined when the object is freed (or close()).

    Any number of Python threads may share a pool: the C executor runs one graph at a time and
    the others wait. close() while a graph runs on another thread (GIL released) does not free
    the pool under it: the pool is marked closed at once (new computes raise) and freed by the
    last running compute when it returns."""
    cdef pg_threadpool *ptr
    cdef int n_running        # computes in flight (changed only with the GIL held)
    cdef bint closing

    def __cinit__(self, int n_threads):
        if n_threads < 1:
            raise ValueError(f"n_threads must be >= 1, got {n_threads}")
        self.ptr = pg_threadpool_new(n_threads)
        if self.ptr == NULL:
            raise MemoryError("cannot create the threadpool")

    @property
    def n_threads(self):
        return pg_threadpool_n_threads(self.ptr) if self.ptr != NULL and not self.closing else 0

    @property
    def closed(self):
        return self.closing or self.ptr == NULL

    cdef pg_threadpool *acquire(self) except NULL:
        if self.ptr == NULL or self.closing:
            raise ValueError("the threadpool is closed")
        self.n_running += 1
        return self.ptr

    cdef void release(self):
        self.n_running -= 1
        if self.closing and self.n_running == 0:
            self._free()

    cdef void _free(self):
        cdef pg_threadpool *p = self.ptr
        self.ptr = NULL
        if p != NULL:
            with nogil:
                pg_threadpool_free(p)

    def close(self):
        self.closing = True
        if self.n_running == 0:
            self._free()

    def __dealloc__(self):
        # a compute in flight holds a reference to the pool, so none runs here
        if self.ptr != NULL:
            pg_threadpool_free(self.ptr)


cdef class NodeList:
    """The C array of node pointers one graph runs, built once and reused by every compute."""
    cdef pg_tensor **nodes
    cdef int n
    cdef object refs   # keeps the CTensor wrappers (and so their contexts) alive
    cdef bint running  # a compute is in flight (set and cleared with the GIL held)

    def __cinit__(self, tensors):
        cdef int i
        self.n = len(tensors)
        self.nodes = <pg_tensor **>malloc(max(self.n, 1) * sizeof(pg_tensor *))
        if self.nodes == NULL:
            raise MemoryError()
        self.refs = list(tensors)
        for i in range(self.n):
            self.nodes[i] = (<CTensor>self.refs[i]).t

    def __dealloc__(self):
        free(self.nodes)

    def work_size(self, int n_threads):
        return pg_graph_work_size(self.nodes, self.n, n_threads)

    def compute(self, ThreadPool pool, size_t work_address, size_t work_size, bint profile=False):
        """Runs every node in one C call (GIL released). Returns {op_id: (ns, count)} if profile.
        One graph's tensors hold one run's data: a second thread computing the same node list
        at the same time is refused (it would overwrite the first run's values)."""
        cdef pg_profile prof
        cdef int rc, i
        cdef pg_tensor *node
        cdef pg_threadpool *tp
        if self.running:
            raise RuntimeError("this graph is already being computed by another thread; "
                               "serialise the calls (one graph's buffers hold one run)")
        tp = pool.acquire()
        self.running = True
        memset(&prof, 0, sizeof(prof))
        try:
            with nogil:
                rc = pg_graph_compute(tp, self.nodes, self.n, <void *>work_address, work_size,
                                      &prof if profile else NULL)
            if rc == PG_ERR_INDEX_RANGE:
                i = pg_graph_error_node(tp)
                node = self.nodes[i]
                names = [node.src[j].name.decode(errors="replace") if node.src[j] != NULL else ""
                         for j in range(PG_MAX_SRC)]
                from .tensor import Op
                raise IndexError(f"graph node {i} {node.name.decode(errors='replace')!r} "
                                 f"({Op(node.op).name.lower()}): an index is out of range for its table "
                                 f"(sources {[n for n in names if n]})")
        finally:
            self.running = False
            pool.release()
        if rc != 0:
            raise RuntimeError(f"graph compute failed (code {rc})")
        if profile:
            return {i: (prof.ns[i], prof.count[i]) for i in range(PG_OP_COUNT) if prof.count[i]}
        return None


cdef class RawMemory:
    """A writable byte buffer over C memory, keeping `owner` alive while any view exists."""
    cdef char *ptr
    cdef Py_ssize_t n
    cdef object owner
    cdef Py_ssize_t shape[1]
    cdef Py_ssize_t strides[1]

    def __cinit__(self, size_t address, Py_ssize_t nbytes, owner):
        self.ptr = <char *>address
        self.n = nbytes
        self.owner = owner
        self.shape[0] = nbytes
        self.strides[0] = 1

    def __getbuffer__(self, Py_buffer *buf, int flags):
        buf.buf = self.ptr
        buf.obj = self
        buf.len = self.n
        buf.readonly = 0
        buf.itemsize = 1
        buf.format = "B"
        buf.ndim = 1
        buf.shape = self.shape
        buf.strides = self.strides
        buf.suboffsets = NULL
        buf.internal = NULL

    def __releasebuffer__(self, Py_buffer *buf):
        pass
