console.log("airlock");
