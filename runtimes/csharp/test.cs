Console.WriteLine("OK");
