"""Datasets: the document's synthetic sets and MNIST (file, download, package, fallback)."""

from jaxloss.data.mnist import KERAS_MNIST_SHA256 as KERAS_MNIST_SHA256
from jaxloss.data.mnist import KERAS_MNIST_URL as KERAS_MNIST_URL
from jaxloss.data.mnist import MNIST_IDX_SHA256 as MNIST_IDX_SHA256
from jaxloss.data.mnist import MNIST_PACKAGE as MNIST_PACKAGE
from jaxloss.data.mnist import MNIST_PACKAGE_REQUIREMENT as MNIST_PACKAGE_REQUIREMENT
from jaxloss.data.mnist import ChecksumError as ChecksumError
from jaxloss.data.mnist import default_cache_dir as default_cache_dir
from jaxloss.data.mnist import download_verified as download_verified
from jaxloss.data.mnist import idx_bytes as idx_bytes
from jaxloss.data.mnist import installed_mnist_package as installed_mnist_package
from jaxloss.data.mnist import load_mnist as load_mnist
from jaxloss.data.mnist import mnist_fallback as mnist_fallback
from jaxloss.data.mnist import mnist_from_csv as mnist_from_csv
from jaxloss.data.mnist import read_keras_npz as read_keras_npz
from jaxloss.data.synthetic import document_binary as document_binary
from jaxloss.data.synthetic import document_l2 as document_l2
from jaxloss.data.synthetic import document_regression as document_regression
