# Seed 002 (CIFAR-10 image recognition): a WholeFileReader reads three images for five
# epochs; every value read is written to read/test_<i>.jpg. Ported to Python 3 with
# conveyor's import; the port first writes the three images the seed reads. As in the
# seed, the loop ends when the filename queue is exhausted: sess.run raises
# OutOfRangeError, which ends the program.
import os

import numpy as np

import conveyor.compat.v1 as tf

os.makedirs("img", exist_ok=True)
os.makedirs("read", exist_ok=True)
with tf.Session() as setup:
    for n in (1, 2, 3):
        pixels = np.full((8, 8, 3), 80 * n, np.uint8)
        with open("img/%d.jpg" % n, "wb") as f:
            f.write(setup.run(tf.image.encode_jpeg(pixels)))

# 新建session
with tf.Session() as sess:
    # 要读取的三张图片
    filename = ["img/1.jpg", "img/2.jpg", "img/3.jpg"]
    # 创建文件名队列
    filename_queue = tf.train.string_input_producer(filename, num_epochs=5, shuffle=False)
    reader = tf.WholeFileReader()
    key, value = reader.read(filename_queue)
    # 初始化变量(epoch)
    tf.local_variables_initializer().run()
    threads = tf.train.start_queue_runners(sess=sess)
    i = 0
    while True:
        i += 1
        # 获取图片保存数据
        image_data = sess.run(value)
        with open("read/test_%d.jpg" % i, "wb") as f:
            f.write(image_data)
