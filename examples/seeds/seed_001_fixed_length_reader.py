# Seed 001 (the CIFAR-10 ResNet notes): FixedLengthRecordReader resumes where it stopped.
# Ported to Python 3 with conveyor's import; the seed reads 'D:/Tensorflow/test/txt1.txt',
# so the port first writes such a file (8 bytes) in the current directory.
import conveyor.compat.v1 as tf

with open("txt1.txt", "wb") as f:
    f.write(b"abcdefgh")

tf.logging.set_verbosity(tf.logging.INFO)

filenames = ["txt1.txt"]
filename_queue = tf.train.string_input_producer(filenames)
reader = tf.FixedLengthRecordReader(record_bytes=4)
key, value = reader.read(filename_queue)
b = value
sess = tf.InteractiveSession()
tf.train.start_queue_runners(sess=sess)
print(sess.run(b))
print("\n")
print(sess.run(b))
