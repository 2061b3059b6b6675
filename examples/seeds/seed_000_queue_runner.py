# Seed 000 ("tensorflow编程一些需要知道的 - 3"): a RandomShuffleQueue filled by a
# QueueRunner of four threads, a Coordinator, and a training loop. Ported to Python 3
# with conveyor's import; the seed's placeholders ("...ops to create one example...",
# "...use 'inputs' to build the training part of the graph...") are filled with a
# random example and a training step that fetches the batch, and the loop runs 1,000
# steps rather than 1,000,000.
import conveyor.compat.v1 as tf

batch_size = 32

example = tf.random_uniform([3], seed=1)
# Step 1. 为输入构建一个queue,并将这些输入enqueue进去
queue = tf.RandomShuffleQueue(
    capacity=1000, min_after_dequeue=100, dtypes=[tf.float32], shapes=[[3]]
)
enqueue_op = queue.enqueue(example)

# Step 2. 从queue里dequeue样本进行训练
inputs = queue.dequeue_many(batch_size)
train_op = inputs

# Step 3. 通过4个线程来并发enqueue_op样本
qr = tf.train.QueueRunner(queue, [enqueue_op] * 4)

# Launch the graph.
sess = tf.Session()
# 构建Coordinator, 启动QueueRunner
coord = tf.train.Coordinator()
enqueue_threads = qr.create_threads(sess, coord=coord, start=True)
# 跑训练迭代。这些线程除了跑enqueue_op, 而且捕获并处理异常, 通过coordinator来在主循环中处理。
try:
    for step in range(1000):
        if coord.should_stop():
            break
        sess.run(train_op)
except Exception as e:
    # 将异常抛给coordinator,通知线程停止
    coord.request_stop(e)
finally:
    coord.request_stop()
    coord.join(enqueue_threads)
print("steps run:", step + 1)
print("threads alive:", sum(t.is_alive() for t in enqueue_threads))
