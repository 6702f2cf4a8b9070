def main():
    print("hello from greet")
