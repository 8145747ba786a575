import sys, os; sys.path.insert(0, os.path.dirname(os.path.dirname(__file__))); from _stubmod import make_getattr; __getattr__ = make_getattr(__name__); __version__ = '0.20.0'
