"""Graph, Session and the fetch and feed structures, as TensorFlow 1 documents them."""

import collections
import threading

import numpy as np
import pytest

import conveyor.compat.v1 as tf


def test_run_returns_numpy_values_in_the_fetch_structure():
    a = tf.constant([1, 2, 3])
    b = tf.constant(2.5)
    s = tf.constant("hi")
    Pair = collections.namedtuple("Pair", "x y")
    with tf.Session() as sess:
        out = sess.run({"a": a, "nested": [b, (s, a)], "pair": Pair(a, b)})
    assert isinstance(out, dict)
    np.testing.assert_array_equal(out["a"], [1, 2, 3])
    assert out["a"].dtype == np.int32
    assert isinstance(out["nested"], list) and isinstance(out["nested"][1], tuple)
    assert out["nested"][0] == np.float32(2.5) and isinstance(out["nested"][0], np.float32)
    assert out["nested"][1][0] == b"hi"
    assert type(out["pair"]) is Pair and out["pair"].y == np.float32(2.5)


def test_ordered_dict_fetch_keeps_its_type_and_order():
    fetches = collections.OrderedDict([("z", tf.constant(1)), ("a", tf.constant(2))])
    with tf.Session() as sess:
        out = sess.run(fetches)
    assert type(out) is collections.OrderedDict and list(out) == ["z", "a"]


def test_operations_fetch_none():
    op = tf.no_op()
    with tf.Session() as sess:
        assert sess.run(op) is None
        assert sess.run([op, tf.constant(1)])[0] is None


def test_string_tensors_are_object_arrays_of_bytes():
    with tf.Session() as sess:
        out = sess.run(tf.constant(["a", "bc"]))
    assert out.dtype == object and out.tolist() == [b"a", b"bc"]


def test_constant_dtype_inference_and_shape_fill():
    assert tf.constant(1).dtype == tf.int32
    assert tf.constant(1.0).dtype == tf.float32
    assert tf.constant(np.float64(1.0)).dtype == tf.float64
    assert tf.constant(True).dtype == tf.bool
    assert tf.constant("x").dtype == tf.string
    c = tf.constant(7, shape=[2, 3])
    assert c.shape.as_list() == [2, 3]
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(c), np.full((2, 3), 7))


def test_placeholder_feed_and_missing_feed():
    x = tf.placeholder(tf.float32, shape=[None, 2], name="x")
    y = tf.cast(x, tf.int32)
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(y, feed_dict={x: [[1.7, -1.7]]}), [[1, -1]])
        np.testing.assert_array_equal(sess.run(y, feed_dict={"x:0": [[2.0, 3.0]]}), [[2, 3]])
        with pytest.raises(
            tf.errors.InvalidArgumentError, match="must feed a value for placeholder tensor 'x'"
        ):
            sess.run(y)
        with pytest.raises(ValueError, match="Cannot feed value of shape"):
            sess.run(y, feed_dict={x: [1.0, 2.0, 3.0]})


def test_any_tensor_can_be_fed():
    a = tf.constant(1)
    b = a + 1
    with tf.Session() as sess:
        assert sess.run(b, feed_dict={a: 10}) == 11


def test_two_fetches_of_one_dequeue_see_one_element():
    q = tf.FIFOQueue(10, tf.int32)
    with tf.Session() as sess:
        sess.run(q.enqueue_many([[1, 2, 3]]))
        d = q.dequeue()
        assert sess.run([d, d, d + 0]) == [1, 1, 1]
        assert sess.run(d) == 2


def test_bad_fetches_raise_type_and_value_errors():
    other = tf.Graph()
    with other.as_default():
        foreign = tf.constant(1)
    with tf.Session() as sess:
        with pytest.raises(TypeError):
            sess.run(1)
        with pytest.raises(TypeError):
            sess.run(None)
        with pytest.raises(ValueError):
            sess.run(foreign)


def test_closed_session_raises_runtime_error():
    sess = tf.Session()
    sess.close()
    with pytest.raises(RuntimeError, match="closed Session"):
        sess.run(tf.constant(1))


def test_graph_as_default_and_session_graph():
    g = tf.Graph()
    with g.as_default():
        c = tf.constant(3)
        assert tf.get_default_graph() is g
        assert c.graph is g
    assert tf.get_default_graph() is not g
    with tf.Session(graph=g) as sess:
        assert sess.graph is g
        assert sess.run(c) == 3


def test_session_context_makes_default_session_for_eval_and_run():
    c = tf.constant(4)
    with pytest.raises(ValueError, match="No default session"):
        c.eval()
    with tf.Session() as sess:
        assert tf.get_default_session() is sess
        assert c.eval() == 4
    assert tf.get_default_session() is None


def test_interactive_session_installs_itself():
    sess = tf.InteractiveSession()
    try:
        v = tf.Variable(5)
        tf.global_variables_initializer().run()
        assert v.eval() == 5
        assert tf.constant(2).eval() == 2
    finally:
        sess.close()
    assert tf.get_default_session() is None


def test_disable_eager_execution_is_accepted():
    tf.disable_eager_execution()
    assert tf.executing_eagerly() is False


def test_variables_need_initialization():
    v = tf.Variable(tf.constant([1, 2]))
    with tf.Session() as sess:
        with pytest.raises(tf.errors.FailedPreconditionError, match="uninitialized"):
            sess.run(v)
        sess.run(tf.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(v), [1, 2])
        sess.run(v.assign_add([1, 1]))
        np.testing.assert_array_equal(sess.run(v), [2, 3])


def test_variables_belong_to_the_session():
    v = tf.Variable(1)
    inc = v.assign_add(1)
    init = tf.global_variables_initializer()
    with tf.Session() as a, tf.Session() as b:
        a.run(init)
        b.run(init)
        a.run(inc)
        assert a.run(v) == 2 and b.run(v) == 1


def test_global_step():
    assert tf.train.get_global_step() is None
    step = tf.train.get_or_create_global_step()
    assert tf.train.get_or_create_global_step() is step
    assert tf.train.get_global_step() is step
    assert step.dtype == tf.int64
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(step) == 0


def test_run_options_timeout_raises_deadline_exceeded():
    q = tf.FIFOQueue(2, tf.int32)
    with tf.Session() as sess, pytest.raises(tf.errors.DeadlineExceededError):
        sess.run(q.dequeue(), options=tf.RunOptions(timeout_in_ms=50))


def test_run_is_thread_safe():
    q = tf.FIFOQueue(1000, tf.int32)
    enq = q.enqueue(tf.constant(1))
    with tf.Session() as sess:
        threads = [
            threading.Thread(target=lambda: [sess.run(enq) for _ in range(100)]) for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sess.run(q.size()) == 400


def test_names_are_unique_and_found():
    a = tf.constant(1, name="c")
    b = tf.constant(2, name="c")
    assert a.name == "c:0" and b.name == "c_1:0"
    g = tf.get_default_graph()
    assert g.get_tensor_by_name("c_1:0") is b
    with tf.name_scope("scope"):
        assert tf.constant(3, name="k").name == "scope/k:0"


def test_tensor_static_shapes():
    x = tf.constant(np.zeros((2, 3, 4), np.float32))
    assert tf.reshape(x, [6, -1]).shape.as_list() == [6, 4]
    assert tf.transpose(x, [2, 0, 1]).shape.as_list() == [4, 2, 3]
    assert tf.slice(x, [0, 1, 0], [-1, 2, 2]).shape.as_list() == [2, 2, 2]
    assert tf.strided_slice(x, [0], [1]).shape.as_list() == [1, 3, 4]
    assert tf.expand_dims(x, 0).shape.as_list() == [1, 2, 3, 4]
    assert tf.placeholder(tf.float32).shape.ndims is None
    with pytest.raises(ValueError):
        tf.placeholder(tf.float32).shape.as_list()


def test_constants_refuse_lossy_values():
    with pytest.raises(TypeError, match="Expected int32"):
        tf.constant(1.5, dtype=tf.int32)
    assert tf.constant(2.0, dtype=tf.int32).dtype == tf.int32
    q = tf.FIFOQueue(2, tf.int32)
    with pytest.raises(TypeError):
        q.enqueue(1.5)
