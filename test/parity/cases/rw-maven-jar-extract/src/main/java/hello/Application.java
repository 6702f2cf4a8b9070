package hello; public class Application {}
